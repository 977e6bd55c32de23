"""`evaluate_served` end to end on a planted structure: the training ratings bulk-loaded into a fresh
database, the model trained and published by the training job, every list served by the code behind
/recommendations/personalized, and the figures and lists mapped back to the files' ids."""

from __future__ import annotations

import json
import random

import psycopg
import pytest

from cinelibre.errors import ValidationError
from cinelibre.recommend.evaluation import RatingRecord, train_test_split
from cinelibre.recommend.offline import CatalogEntry, evaluate_served, fresh_database, load, write_lists

ITEMS_PER_GROUP = 15


def taste_groups(seed: int = 7) -> tuple[list[CatalogEntry], list[RatingRecord], dict[str, int]]:
    """Two groups of 12 users and two groups of 15 films. Each user rates 10 films of their own group 4-5
    and 4 of the other group 1-2. Returns the catalog, the ratings and each user's group."""
    generator = random.Random(seed)
    catalog = [
        CatalogEntry(str(100 * (group + 1) + i), f"{('North', 'South')[group]} film {i}", 2001, ("Drama",))
        for group in range(2)
        for i in range(ITEMS_PER_GROUP)
    ]
    ratings, groups = [], {}
    for group in range(2):
        for u in range(12):
            user = str(1000 * (group + 1) + u)
            groups[user] = group
            for i in generator.sample(range(ITEMS_PER_GROUP), 10):
                ratings.append(RatingRecord(user, str(100 * (group + 1) + i), generator.choice([4.0, 4.5, 5.0]),
                                            1_700_000_000.0 + u))
            for i in generator.sample(range(ITEMS_PER_GROUP), 4):
                ratings.append(RatingRecord(user, str(100 * (2 - group) + i), generator.choice([1.0, 1.5, 2.0]),
                                            1_700_000_000.0 + u))
    return catalog, ratings, groups


def group_of(item_id: str) -> int:
    return int(item_id) // 100 - 1


def test_served_lists_find_the_planted_groups_and_beat_most_rated(pg_url, tmp_path):
    catalog, ratings, groups = taste_groups()
    train, test = train_test_split(ratings, test_fraction=0.2, seed=1)
    url = fresh_database(pg_url, "evaluate_served_groups")
    steps = []

    result = evaluate_served(url, train, test, items=catalog, k=5, progress=lambda *step: steps.append(step))

    assert result.catalog_size == 30 and result.train_ratings == len(train) and result.test_ratings == len(test)
    test_users = {record.user_id for record in test}
    assert [entry.user_id for entry in result.lists] == list(dict.fromkeys(r.user_id for r in test))
    # Every user has liked items the model knows: the trained model serves all of them, never a fallback.
    assert sum(result.methods.values()) == len(test_users)
    assert set(result.methods) == {result.training.algorithm}
    rated = {(record.user_id, record.item_id) for record in train}
    for entry in result.lists:
        assert len(entry.file_item_ids) == 5
        assert not any((entry.user_id, item) in rated for item in entry.file_item_ids)
        # Each user still has at least 5 unrated films of their own group: the top 5 must all be theirs.
        assert {group_of(item) for item in entry.file_item_ids} == {groups[entry.user_id]}
    assert result.served.users == len(test_users)
    assert result.served.ndcg > result.popularity.ndcg + 0.2
    assert result.served.precision > result.popularity.precision
    # Predicted ratings: asked of the service for every held-out pair, all of whose items the model knows.
    assert result.predictions_for_every_pair
    assert result.served_ratings.pairs == len(test) and result.served_ratings.coverage == 1.0
    assert {step for step, _, _ in steps} >= {"loading", "ranking"}
    assert steps[-1] == ("ranking", len(test_users), len(test_users))

    out = tmp_path / "recs.jsonl"
    assert write_lists(out, result.lists) == len(test_users)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    first = lines[0]
    # Ids as the files wrote them: numbers stay numbers.
    assert first["user_id"] == int(result.lists[0].user_id)
    assert [item["item_id"] for item in first["items"]] == [int(i) for i in result.lists[0].file_item_ids]
    assert set(first["items"][0]) == {"item_id", "score", "predicted_rating", "method"}
    scores = [item["score"] for item in first["items"]]
    assert scores == sorted(scores, reverse=True)


def test_without_a_catalog_every_rated_item_gets_a_placeholder_and_text_ids_survive(pg_url):
    train = [RatingRecord("ana", "tt01", 5.0), RatingRecord("ben", "tt02", 4.0)]
    test = [RatingRecord("ana", "tt03", 4.5)]
    url = fresh_database(pg_url, "evaluate_placeholder_items")
    loaded = load(url, (), train, test)
    assert loaded.catalog_size == 3 and set(loaded.item_db_id) == {"tt01", "tt02", "tt03"}
    assert set(loaded.user_db_id) == {"ana", "ben"}
    with psycopg.connect(url) as conn:
        titles = conn.execute("select title from public.movies order by item_id").fetchall()
        stats = conn.execute("select item_id, rating_count, rating_sum from public.item_rating_stats"
                             " order by item_id").fetchall()
    assert [title for (title,) in titles] == ["Item tt01", "Item tt02", "Item tt03"]
    # The per-item stats the bulk load computes in one statement match what the trigger would have kept.
    assert [(item, count, float(total)) for item, count, total in stats] == [(1, 1, 5.0), (2, 1, 4.0)]


def test_a_rating_of_an_item_missing_from_the_items_file_is_refused(pg_url):
    url = fresh_database(pg_url, "evaluate_unknown_item")
    with pytest.raises(ValidationError, match="the test ratings name item 9, which the items file lacks"):
        load(url, [CatalogEntry("1", "One")], [RatingRecord("u", "1", 4.0)], [RatingRecord("u", "9", 4.0)])
