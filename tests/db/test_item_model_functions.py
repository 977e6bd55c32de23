"""`get_model_recommendations`, `predict_user_ratings` and the training RPCs, on hand-written model rows
whose right answer is known (no training here: the weights are chosen)."""

from __future__ import annotations

import psycopg
import pytest

from cinelibre.errors import ValidationError
from tests.db.catalog_rows import book, movie

HASH = "$2b$10$abcdefghijklmnopqrstuuAbCdEfGhIjKlMnOpQrStUvWxYz01234"


@pytest.fixture
def forget_models(pg_url):
    yield
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("truncate public.recommender_active, public.recommender_models cascade")


def _user(db, name: str) -> str:
    return db.create_user(email=f"{name}@example.com", password_hash=HASH, name=name)["id"]


@pytest.fixture
def catalog(db, forget_models):
    db.upsert_movies(movies=[
        movie(1, "Drishyam", release_date="2013-12-19"),
        movie(2, "Kahaani", release_date="2012-03-09"),
        movie(3, "Papanasam", release_date="2015-07-03"),
        movie(4, "Andhadhun", release_date="2018-10-05"),
        # The same film ingested twice under two TMDB ids.
        movie(5, "Talaash", release_date="2012-11-30"),
        movie(6, "Talaash", release_date="2012-11-30"),
        movie(7, "Unrelated", release_date="2001-01-01"),
    ])
    db.upsert_books(books=[book("b1", "The Devotion of Suspect X")])
    rows, _ = db.list_movies(language=None, genre=None, year_from=None, year_to=None, limit=20, offset=0)
    ids = {}
    for row in rows:
        ids.setdefault(row["title"], []).append(row["id"])
    ids = {title: sorted(found) if len(found) > 1 else found[0] for title, found in ids.items()}
    with psycopg.connect(db.transport._pool.conninfo) as conn:
        ids["The Devotion of Suspect X"] = conn.execute("select item_id from books").fetchone()[0]
    return ids


def publish(db, ids, edges, *, biases=None, shrinkage=None, mean=3.5, neutral_weight=0.0):
    """A ready, active version with the given (from title, to title, weight) rows."""
    version = db.begin_recommender_model(
        algorithm="ease", liked_rating=4.0, neutral_rating=3.0, neutral_weight=neutral_weight, global_mean=mean,
        user_reg=0.0, prediction_shrinkage=shrinkage, params={"l2": 1.0},
    )

    def item(title):
        value = ids[title[0]][title[1]] if isinstance(title, tuple) else ids[title]
        return value

    db.save_item_neighbours(
        model_version=version, item_ids=[item(a) for a, _, _ in edges], neighbour_ids=[item(b) for _, b, _ in edges],
        weights=[w for _, _, w in edges],
    )
    biases = biases or {}
    every = {a for a, _, _ in edges} | {b for _, b, _ in edges}
    db.save_item_biases(
        model_version=version, item_ids=[item(t) for t in every], biases=[biases.get(t, 0.0) for t in every]
    )
    db.activate_recommender_model(model_version=version, stats={"item_count": len(every), "metrics": {}})
    return version


EDGES = [
    # Binary fractions, so sums tie exactly in float32.
    ("Drishyam", "Papanasam", 0.5),
    ("Drishyam", "Andhadhun", 0.25),
    ("Kahaani", "Andhadhun", 0.5),
    ("Kahaani", "Papanasam", 0.25),
    ("Drishyam", ("Talaash", 0), 0.125),
    ("Drishyam", ("Talaash", 1), 0.125),
    ("Drishyam", "The Devotion of Suspect X", 0.375),
    ("Drishyam", "Kahaani", 0.375),
    ("Kahaani", "Drishyam", 0.375),
    ("Unrelated", "Andhadhun", 0.875),
    ("Unrelated", "Papanasam", -0.875),
]


def test_scores_sum_weights_over_liked_items_and_name_the_top_two(db, catalog):
    version = publish(db, catalog, EDGES)
    user = _user(db, "ana")
    db.upsert_rating(user_id=user, item_id=catalog["Drishyam"], rating=5.0)
    db.upsert_rating(user_id=user, item_id=catalog["Kahaani"], rating=4.0)

    rows = db.get_model_recommendations(user_id=user, item_type="all", count=10)

    # Papanasam 0.5 + 0.25 and Andhadhun 0.25 + 0.5 tie: the lower item id first. Rated items never return.
    tied = sorted(["Papanasam", "Andhadhun"], key=lambda title: catalog[title])
    assert [r["title"] for r in rows] == [*tied, "The Devotion of Suspect X", "Talaash"]
    assert [r["score"] for r in rows] == [0.75, 0.75, 0.375, 0.125]
    because = {r["title"]: r["because_titles"] for r in rows}
    assert because["Papanasam"] == ["Drishyam", "Kahaani"] and because["Andhadhun"] == ["Kahaani", "Drishyam"]
    assert because["The Devotion of Suspect X"] == ["Drishyam"]
    assert db.get_model_recommendations(user_id=user, item_type="all", count=10) == rows
    assert {r["model_version"] for r in rows} == {version} and {r["algorithm"] for r in rows} == {"ease"}
    # The two entries of Talaash tie: the one with the lower id stands for the title.
    assert rows[3]["item_id"] == catalog["Talaash"][0]
    assert [r["title"] for r in db.get_model_recommendations(user_id=user, item_type="book", count=10)] == [
        "The Devotion of Suspect X"
    ]
    assert [r["title"] for r in db.get_model_recommendations(user_id=user, item_type="movie", count=2)] == tied


def test_only_liked_items_speak_for_others_and_a_new_rating_counts_at_once(db, catalog):
    publish(db, catalog, EDGES)
    user = _user(db, "bo")
    db.upsert_rating(user_id=user, item_id=catalog["Unrelated"], rating=2.0)  # disliked: no signal
    assert db.get_model_recommendations(user_id=user, item_type="all", count=10) == []
    db.upsert_rating(user_id=user, item_id=catalog["Unrelated"], rating=4.5)  # now liked, no retraining
    rows = db.get_model_recommendations(user_id=user, item_type="all", count=10)
    # Papanasam's weight from Unrelated is negative: it is not recommended on that evidence.
    assert [r["title"] for r in rows] == ["Andhadhun"]
    db.upsert_rating(user_id=user, item_id=catalog["Drishyam"], rating=5.0)
    titles = [r["title"] for r in db.get_model_recommendations(user_id=user, item_type="all", count=10)]
    assert titles[0] == "Andhadhun" and "Papanasam" not in titles  # 0.5 - 0.875 < 0


def test_a_title_the_user_rated_under_another_entry_is_not_recommended(db, catalog):
    publish(db, catalog, EDGES)
    user = _user(db, "cy")
    db.upsert_rating(user_id=user, item_id=catalog["Drishyam"], rating=5.0)
    db.upsert_rating(user_id=user, item_id=catalog["Talaash"][1], rating=3.5)
    titles = [r["title"] for r in db.get_model_recommendations(user_id=user, item_type="all", count=10)]
    assert "Talaash" not in titles


def test_predicted_ratings_are_baseline_plus_a_shrunk_neighbourhood_term(db, catalog):
    biases = {"Drishyam": 0.5, "Kahaani": 0.0, "Papanasam": 0.25, "Andhadhun": -0.25}
    publish(db, catalog, EDGES, biases=biases, shrinkage=0.4, mean=3.5)
    user = _user(db, "di")
    db.upsert_rating(user_id=user, item_id=catalog["Drishyam"], rating=5.0)
    db.upsert_rating(user_id=user, item_id=catalog["Kahaani"], rating=4.0)
    # user_reg 0: b_u = ((5 - 3.5 - 0.5) + (4 - 3.5 - 0)) / 2 = 0.75; residuals 0.25 and -0.25.
    papanasam = 3.5 + 0.75 + 0.25 + (0.5 * 0.25 + 0.25 * -0.25) / (0.75 + 0.4)
    andhadhun = 3.5 + 0.75 - 0.25 + (0.25 * 0.25 + 0.5 * -0.25) / (0.75 + 0.4)
    rows = {r["title"]: r for r in db.get_model_recommendations(user_id=user, item_type="all", count=10)}
    assert rows["Papanasam"]["predicted_rating"] == pytest.approx(papanasam)
    assert rows["Andhadhun"]["predicted_rating"] == pytest.approx(andhadhun)
    predicted = db.predict_user_ratings(
        user_id=user, item_ids=[catalog["Papanasam"], catalog["Andhadhun"], catalog["Unrelated"], 999999]
    )
    assert predicted[catalog["Papanasam"]] == pytest.approx(papanasam)
    assert predicted[catalog["Andhadhun"]] == pytest.approx(andhadhun)
    # Unrelated has a bias row (it is in the model): baseline only, nothing of its neighbours was rated.
    assert predicted[catalog["Unrelated"]] == pytest.approx(3.5 + 0.75 + 0.0)
    assert predicted[999999] is None  # not in the model: no guess


def test_without_an_active_model_there_is_nothing_to_serve(db, catalog):
    user = _user(db, "ed")
    db.upsert_rating(user_id=user, item_id=catalog["Drishyam"], rating=5.0)
    assert db.get_active_recommender_model() is None
    assert db.get_model_recommendations(user_id=user, item_type="all", count=10) == []
    assert db.predict_user_ratings(user_id=user, item_ids=[catalog["Kahaani"]]) == {}


def test_rows_written_under_a_new_version_are_invisible_until_it_is_activated(db, catalog):
    first = publish(db, catalog, EDGES)
    user = _user(db, "fa")
    db.upsert_rating(user_id=user, item_id=catalog["Kahaani"], rating=5.0)
    before = db.get_model_recommendations(user_id=user, item_type="all", count=10)
    building = db.begin_recommender_model(
        algorithm="ease", liked_rating=4.0, neutral_rating=3.0, neutral_weight=0.0, global_mean=3.5, user_reg=0.0,
        prediction_shrinkage=None, params={},
    )
    db.save_item_neighbours(model_version=building, item_ids=[catalog["Kahaani"]],
                            neighbour_ids=[catalog["Unrelated"]], weights=[5.0])
    assert db.get_model_recommendations(user_id=user, item_type="all", count=10) == before
    assert db.get_active_recommender_model()["version"] == first
    activated = db.activate_recommender_model(model_version=building, stats={"metrics": {"ndcg@10": 0.5}})
    assert activated["previous_version"] == first and activated["neighbour_count"] == 1
    after = db.get_model_recommendations(user_id=user, item_type="all", count=10)
    assert [(r["title"], r["model_version"]) for r in after] == [("Unrelated", building)]
    with pytest.raises(ValidationError, match="not being built"):
        db.save_item_neighbours(model_version=building, item_ids=[1], neighbour_ids=[2], weights=[1.0])


def test_training_ratings_are_read_in_pages_of_parallel_arrays(db, catalog):
    users = [_user(db, f"r{i}") for i in range(3)]
    for index, user in enumerate(users):
        db.upsert_rating(user_id=user, item_id=catalog["Drishyam"], rating=1.0 + index)
        db.upsert_rating(user_id=user, item_id=catalog["Kahaani"], rating=4.5)
    first = db.get_training_ratings(after_rating_id=0, page_size=4)
    assert len(first["user_ids"]) == len(first["item_ids"]) == len(first["ratings"]) == 4
    rest = db.get_training_ratings(after_rating_id=first["last_rating_id"], page_size=4)
    assert len(rest["user_ids"]) == 2
    assert db.get_training_ratings(after_rating_id=rest["last_rating_id"], page_size=4)["user_ids"] == []
    assert sorted(first["ratings"] + rest["ratings"]) == [1.0, 2.0, 3.0, 4.5, 4.5, 4.5]
    assert set(first["user_ids"] + rest["user_ids"]) == set(users)


def test_model_functions_are_for_the_service_role_only(db, pg_url):
    with psycopg.connect(pg_url) as conn:
        granted = conn.execute(
            "select p.proname, has_function_privilege('anon', p.oid, 'execute'),"
            " has_function_privilege('authenticated', p.oid, 'execute'),"
            " has_function_privilege('service_role', p.oid, 'execute')"
            " from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public'"
            " and p.proname in ('get_model_recommendations', 'predict_user_ratings', 'get_training_ratings',"
            " 'begin_recommender_model', 'save_item_neighbours', 'save_item_biases', 'activate_recommender_model',"
            " 'fail_recommender_model', 'get_active_recommender_model')"
        ).fetchall()
    assert len(granted) == 9
    assert all(row[1:] == (False, False, True) for row in granted), granted


def test_every_rating_counts_however_old_and_no_rated_title_is_offered(db, catalog, pg_url):
    # Sessions 2 and 3 bounded the neighbourhood to the 500, then 2,000 most recent ratings. Since session 5 the
    # whole history counts (heavy users' sums are cached, and a cache is a sum over every rating), on both the
    # cached and the live path.
    user = _user(db, "heavy")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        filler = [row[0] for row in conn.execute(
            "with new as (insert into public.items (item_type) select 'movie' from generate_series(1, 2000) "
            "returning id) "
            "insert into public.movies (item_id, tmdb_id, title) select id, 900000 + id, 'Filler ' || id from new "
            "returning item_id"
        )]
        conn.execute(
            "insert into public.ratings (user_id, item_id, rating, updated_at) "
            "select %s, unnest(%s::bigint[]), 5.0, now()", (user, filler),
        )
        conn.execute(
            "insert into public.ratings (user_id, item_id, rating, updated_at) values (%s, %s, 5.0, now() - "
            "interval '1 day')", (user, catalog["Drishyam"]),
        )
    ids = dict(catalog) | {"Filler": filler[0]}
    # A recent filler speaks for Drishyam (rated long ago) and for Kahaani.
    publish(db, ids, [*EDGES, ("Filler", "Drishyam", 0.5), ("Filler", "Kahaani", 0.25)])

    def served() -> list[dict]:
        return db.get_model_recommendations(user_id=user, item_type="all", count=10)

    # Drishyam is the 2,001st most recent rating: it still lifts its neighbours (Kahaani 0.25 + 0.375, Papanasam
    # 0.5, ...), and it is never recommended.
    rows = served()
    assert [r["title"] for r in rows] == ["Kahaani", "Papanasam", "The Devotion of Suspect X", "Andhadhun", "Talaash"]
    assert rows[0]["score"] == 0.625 and rows[0]["because_item_ids"] == [catalog["Drishyam"], filler[0]]

    # The same answer from the user's cached scores (2,001 ratings: past the cache's threshold).
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("select * from public.refresh_user_model_scores()")
        cached = conn.execute("select count(*) from public.user_model_scores where user_id = %s", (user,)).fetchone()
        assert cached == (1,)
    assert served() == rows
