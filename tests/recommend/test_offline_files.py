"""The rating and item files `cinelibre evaluate` reads: what it accepts, and every malformed file refused
with its line number and what is wrong."""

from __future__ import annotations

import pytest

from cinelibre.errors import ValidationError
from cinelibre.recommend.evaluation import RatingRecord
from cinelibre.recommend.offline import (
    CatalogEntry,
    CsvFormatError,
    json_id,
    most_rated,
    read_items,
    read_ratings,
    split_file,
)


def write(tmp_path, text: str, name: str = "ratings.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_the_canonical_and_the_movielens_headers(tmp_path):
    canonical = write(tmp_path, "user_id,item_id,rating\n7,50,4.5\n7,51,1\n", "a.csv")
    assert read_ratings(canonical) == [RatingRecord("7", "50", 4.5), RatingRecord("7", "51", 1.0)]
    movielens = write(tmp_path, "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n", "b.csv")
    assert read_ratings(movielens) == [RatingRecord("1", "1", 4.0, 964982703.0)]
    iso = write(tmp_path, "user_id,item_id,rating,timestamp\nana,x9,5,2024-01-02T00:00:00+00:00\n", "c.csv")
    assert read_ratings(iso) == [RatingRecord("ana", "x9", 5.0, 1704153600.0)]


def test_reads_items_with_optional_columns(tmp_path):
    path = write(
        tmp_path,
        'item_id,title,year,genres,overview\n1,"Toy Story (1995)",1995,Adventure|Animation,A toy.\n'
        "2,Heat,,(no genres listed),\n",
        "items.csv",
    )
    assert read_items(path) == [
        CatalogEntry("1", "Toy Story (1995)", 1995, ("Adventure", "Animation"), "A toy."),
        CatalogEntry("2", "Heat", None, (), None),
    ]
    movielens = write(tmp_path, "movieId,title,genres\n1,Toy Story (1995),Comedy\n", "movies.csv")
    assert read_items(movielens) == [CatalogEntry("1", "Toy Story (1995)", None, ("Comedy",), None)]


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("", 1, "the file is empty"),
        ("user_id,item_id,rating\n", 2, "no ratings after the header"),
        ("1,50,4.0\n2,50,3.0\n", 1, "expected a header row naming the columns user_id,item_id,rating[,timestamp]"),
        ("user_id,item_id,stars\n1,2,3\n", 1, "unknown column 'stars'"),
        ("user_id,item_id\n1,2\n", 1, "missing column rating"),
        ("user_id,item_id,rating,rating\n1,2,3,3\n", 1, "column 'rating' appears twice"),
        ("user_id,item_id,rating\n1,2,3\n1,3\n", 3, "2 fields where the header names 3"),
        ("user_id,item_id,rating\n1,2,3\n\n1,4,3\n", 3, "empty line"),
        ("user_id,item_id,rating\n1,2,good\n", 2, "rating 'good' is not a number"),
        ("user_id,item_id,rating\n1,2,6\n", 2, "rating 6 is not 0.5 to 5.0 in steps of 0.5"),
        ("user_id,item_id,rating\n1,2,3.3\n", 2, "rating 3.3 is not 0.5 to 5.0 in steps of 0.5"),
        ("user_id,item_id,rating\n1,2,nan\n", 2, "rating nan is not 0.5 to 5.0"),
        ("user_id,item_id,rating\n ,2,3\n", 2, "user_id is empty"),
        ("user_id,item_id,rating\n1,2,3\n1,5,4\n1,2,4\n", 4, "user 1 rates item 2 a second time (first on line 2)"),
        ("user_id,item_id,rating,timestamp\n1,2,3,yesterday\n", 2, "timestamp 'yesterday' is neither"),
        ("user_id,item_id,rating,timestamp\n1,2,3,-5\n", 2, "timestamp -5 is out of range"),
        ('user_id,item_id,rating\n1,"2,3\n', 2, "not valid CSV"),
    ],
)
def test_a_malformed_rating_file_is_refused_with_its_line_and_problem(tmp_path, text, line, problem):
    path = write(tmp_path, text)
    with pytest.raises(CsvFormatError) as caught:
        read_ratings(path)
    assert caught.value.line == line
    assert caught.value.message.startswith(f"{path}:{line}: ")
    assert problem in caught.value.message


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("item_id,year\n1,1999\n", 1, "missing column title"),
        ("item_id,title\n1,Heat\n1,Heat again\n", 3, "item 1 appears a second time (first on line 2)"),
        ("item_id,title,year\n1,Heat,95\n", 2, "year '95' is not a year from 1870 to 2100"),
        ("item_id,title\n1,   \n", 2, "title is empty"),
        ("item_id,title\n1," + "x" * 501 + "\n", 2, "title is longer than 500 characters"),
    ],
)
def test_a_malformed_item_file_is_refused_with_its_line_and_problem(tmp_path, text, line, problem):
    path = write(tmp_path, text, "items.csv")
    with pytest.raises(CsvFormatError) as caught:
        read_items(path)
    assert caught.value.line == line and problem in caught.value.message


def test_a_missing_file_is_a_validation_error_not_a_stack_trace(tmp_path):
    with pytest.raises(ValidationError, match="cannot read"):
        read_ratings(tmp_path / "absent.csv")


def test_split_file_writes_a_per_user_split_that_reads_back_whole(tmp_path):
    lines = ["user_id,item_id,rating,timestamp"]
    lines += [f"u{u},{i},{1 + (u + i) % 5},{1_600_000_000 + i}" for u in range(6) for i in range(10)]
    source = write(tmp_path, "\n".join(lines) + "\n")
    train, test = split_file(source, tmp_path / "train.csv", tmp_path / "test.csv", seed=3)
    assert read_ratings(tmp_path / "train.csv") == train
    assert read_ratings(tmp_path / "test.csv") == test
    assert len(test) == 12 and len(train) == 48
    assert {record.user_id for record in test} == {f"u{u}" for u in range(6)}
    assert sorted(train + test, key=lambda r: (r.user_id, int(r.item_id))) == sorted(
        read_ratings(source), key=lambda r: (r.user_id, int(r.item_id))
    )
    again, _ = split_file(source, tmp_path / "train2.csv", tmp_path / "test2.csv", seed=3)
    assert again == train


def test_most_rated_leaves_out_what_each_user_rated_and_breaks_ties_by_id():
    train = [
        RatingRecord("a", "x", 4.0),
        RatingRecord("b", "x", 2.0),
        RatingRecord("c", "x", 5.0),
        RatingRecord("a", "y", 3.0),
        RatingRecord("b", "y", 3.0),
        RatingRecord("c", "z", 1.0),
        RatingRecord("a", "w", 1.0),
    ]
    lists = most_rated(train, ["a", "c", "new"], 2)
    assert lists == {"a": ["z"], "c": ["y", "w"], "new": ["x", "y"]}


def test_ids_are_written_back_as_the_files_gave_them():
    assert json_id("7") == 7 and json_id("-3") == -3
    assert json_id("007") == "007" and json_id("tt0111161") == "tt0111161" and json_id("1.5") == "1.5"
