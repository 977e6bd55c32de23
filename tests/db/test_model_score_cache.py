"""The heavy users' score cache (issue 9, session 5): user_model_scores keeps a heavy user's whole score vector
for the active model, kept current by a trigger on ratings, and get_model_recommendations reads it instead of
summing live. Whatever is written, the cached answer must be the live one:

(a) after a random sequence of inserts, updates and deletes (single rows through the rating functions and
    multi-row, multi-user statements), the cached vector equals a fresh sum and every list equals the live list;
(b) concurrent writers of one user's ratings (and a refresh racing them) leave the cache equal to a fresh sum;
(c) a newly activated version ignores the old rows until refresh_user_model_scores sums them again;
(d) a user below the threshold never gets a row.

Weights are multiples of 1/64 and neutral_weight 1/4, so sums are exact in any order and ties are real ties."""

from __future__ import annotations

import random
import threading
import time

import psycopg
import pytest

from cinelibre.recommend import training
from tests.db.test_supabase_auth_adapter import postgrest  # noqa: F401 (the PostgREST emulator fixture)

HASH = "$2b$10$abcdefghijklmnopqrstuuAbCdEfGhIjKlMnOpQrStUvWxYz01234"
MOVIES, BOOKS = 440, 60
SOURCES, NEIGHBOURS = 420, 60  # items with a neighbour list; every item may be a neighbour
RATINGS = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]
LISTS = (("all", 10), ("all", 60), ("movie", 10), ("book", 5))


@pytest.fixture
def forget_models(pg_url):
    yield
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("truncate public.recommender_active, public.recommender_models cascade")


@pytest.fixture
def catalog(db, pg_url, forget_models) -> list[int]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        movies = [row[0] for row in conn.execute(
            "with new as (insert into public.items (item_type) select 'movie' from generate_series(1, %s) "
            "returning id) insert into public.movies (item_id, tmdb_id, title) "
            "select id, 700000 + id, 'Cached film ' || id from new returning item_id", (MOVIES,))]
        books = [row[0] for row in conn.execute(
            "with new as (insert into public.items (item_type) select 'book' from generate_series(1, %s) "
            "returning id) insert into public.books (item_id, google_id, title) "
            "select id, 'cached-' || id, 'Cached book ' || id from new returning item_id", (BOOKS,))]
    return sorted(movies + books)


def publish_model(db, pg_url, items: list[int], seed: int) -> int:
    """A model version whose every source item has 60 neighbours (weights k/64, some negative), made active."""
    rng = random.Random(seed)
    pairs = []
    for item in sorted(rng.sample(items, SOURCES)):
        for other in rng.sample([other for other in items if other != item], NEIGHBOURS):
            pairs.append((item, other, rng.choice([k for k in range(-8, 25) if k]) / 64))
    version = db.begin_recommender_model(
        algorithm="ease", liked_rating=4.0, neutral_rating=3.0, neutral_weight=0.25, global_mean=3.5,
        user_reg=2.0, prediction_shrinkage=0.75, params={"seed": seed},
    )
    db.save_item_neighbours(model_version=version, item_ids=[p[0] for p in pairs],
                            neighbour_ids=[p[1] for p in pairs], weights=[p[2] for p in pairs])
    db.save_item_biases(model_version=version, item_ids=items, biases=[rng.randint(-16, 16) / 32 for _ in items])
    db.activate_recommender_model(model_version=version, stats={"item_count": len(items), "metrics": {}})
    return version


@pytest.fixture
def model(db, pg_url, catalog) -> dict:
    return {"version": publish_model(db, pg_url, catalog, seed=1), "items": catalog}


def new_user(db, name: str) -> str:
    return db.create_user(email=f"{name}@example.com", password_hash=HASH, name=name)["id"]


def insert_ratings(conn, user: str, ratings: dict[int, float]) -> None:
    """One multi-row statement."""
    conn.execute(
        "insert into public.ratings (user_id, item_id, rating) select %s, r.item_id, r.rating "
        "from unnest(%s::bigint[], %s::numeric[]) as r (item_id, rating)",
        (user, list(ratings), list(ratings.values())),
    )


def rated(conn, user: str) -> dict[int, float]:
    return {item: float(value) for item, value in conn.execute(
        "select item_id, rating from public.ratings where user_id = %s", (user,))}


def cached_row(conn, user: str) -> tuple[int, dict[int, float]] | None:
    row = conn.execute(
        "select model_version, item_ids, scores from public.user_model_scores where user_id = %s", (user,)
    ).fetchone()
    return None if row is None else (row[0], dict(zip(row[1], row[2], strict=True)))


def fresh_sum(conn, user: str) -> dict[int, float]:
    """The user's score vector summed from scratch for the active model (written, read, rolled back)."""
    with conn.transaction(force_rollback=True):
        conn.execute(
            "select public.sum_user_model_scores(%s, m) from public.recommender_active a "
            "join public.recommender_models m on m.version = a.model_version", (user,))
        return cached_row(conn, user)[1]


def served(conn, user: str, item_type: str, limit: int) -> list[tuple]:
    return conn.execute("select * from public.get_model_recommendations(%s, %s, %s)",
                        (user, item_type, limit)).fetchall()


def served_live(conn, user: str, item_type: str, limit: int) -> list[tuple]:
    """The list summed live: the same call with the user's cache row deleted, then rolled back."""
    with conn.transaction(force_rollback=True):
        conn.execute("delete from public.user_model_scores where user_id = %s", (user,))
        return served(conn, user, item_type, limit)


def assert_same_lists(cached: list[tuple], live: list[tuple]) -> None:
    assert len(cached) == len(live)
    for got, want in zip(cached, live, strict=True):
        # item_id, item_type, title, year, image_url | score, predicted_rating | reasons, version, algorithm
        assert got[:5] + got[7:] == want[:5] + want[7:]
        assert got[5] == pytest.approx(want[5], abs=1e-9)
        assert (got[6] is None) == (want[6] is None)
        if got[6] is not None:
            assert got[6] == pytest.approx(want[6], abs=1e-9)


def assert_cache_is_current(conn, user: str, version: int) -> None:
    row = cached_row(conn, user)
    assert row is not None and row[0] == version
    vector, expected = row[1], fresh_sum(conn, user)
    assert sorted(vector) == sorted(expected)
    assert [vector[item] for item in sorted(vector)] == pytest.approx(
        [expected[item] for item in sorted(expected)], abs=1e-9)
    for item_type, limit in LISTS:
        cached = served(conn, user, item_type, limit)
        assert_same_lists(cached, served_live(conn, user, item_type, limit))


def test_the_cache_follows_every_kind_of_rating_write(db, pg_url, model):
    rng = random.Random(21)
    items = model["items"]
    heavy, other_heavy, light = new_user(db, "heavy"), new_user(db, "other"), new_user(db, "light")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        insert_ratings(conn, heavy, {i: rng.choice(RATINGS) for i in rng.sample(items, 230)})
        insert_ratings(conn, other_heavy, {i: rng.choice(RATINGS) for i in rng.sample(items, 205)})
        insert_ratings(conn, light, {i: rng.choice(RATINGS) for i in rng.sample(items, 30)})
        # Reaching the threshold in one statement sums the row in full.
        assert_cache_is_current(conn, heavy, model["version"])
        assert_cache_is_current(conn, other_heavy, model["version"])
        assert cached_row(conn, light) is None
        assert len(served(conn, heavy, "all", 60)) == 60

        kinds = []
        for step in range(48):
            mine = rated(conn, heavy)
            unrated = [i for i in items if i not in mine]
            kind = rng.choice(["insert", "update", "delete", "insert many", "update many", "delete many",
                               "several users", "same signal"])
            kinds.append(kind)
            if kind == "insert":
                db.upsert_rating(user_id=heavy, item_id=rng.choice(unrated), rating=rng.choice(RATINGS))
            elif kind == "update":
                db.upsert_rating(user_id=heavy, item_id=rng.choice(sorted(mine)), rating=rng.choice(RATINGS))
            elif kind == "delete":
                (rating_id,) = conn.execute("select id from public.ratings where user_id = %s and item_id = %s",
                                            (heavy, rng.choice(sorted(mine)))).fetchone()
                assert db.delete_rating(user_id=heavy, rating_id=rating_id)
            elif kind == "insert many":
                insert_ratings(conn, heavy, {i: rng.choice(RATINGS) for i in rng.sample(unrated, 6)})
            elif kind == "update many":
                chosen = rng.sample(sorted(mine), 9)
                conn.execute(
                    "update public.ratings r set rating = c.rating, updated_at = now() "
                    "from unnest(%s::bigint[], %s::numeric[]) as c (item_id, rating) "
                    "where r.user_id = %s and r.item_id = c.item_id",
                    (chosen, [rng.choice(RATINGS) for _ in chosen], heavy))
            elif kind == "delete many":
                conn.execute("delete from public.ratings where user_id = %s and item_id = any(%s)",
                             (heavy, rng.sample(sorted(mine), 5)))
            elif kind == "several users":
                conn.execute(
                    "update public.ratings set rating = case when rating >= 3 then rating - 2 else rating + 2 end "
                    "where user_id = any(%s::uuid[]) and item_id = any(%s)",
                    ([heavy, other_heavy, light], rng.sample(items, 120)))
            else:  # a changed rating whose signal does not change (4.5 -> 5.0, 1.0 -> 2.0) moves no score
                liked = [i for i, value in mine.items() if value >= 4]
                before = cached_row(conn, heavy)
                conn.execute("update public.ratings set rating = case when rating = 5 then 4 else 5 end "
                             "where user_id = %s and item_id = any(%s)", (heavy, liked[:5]))
                assert cached_row(conn, heavy) == before
            if step % 8 == 7:
                assert_cache_is_current(conn, heavy, model["version"])
        assert {"insert many", "update many", "delete many", "several users"} <= set(kinds)
        assert_cache_is_current(conn, heavy, model["version"])
        assert_cache_is_current(conn, other_heavy, model["version"])
        assert cached_row(conn, light) is None

        # A catalog delete cascades to the item's ratings and list; its contribution leaves the cache too.
        liked_sources = conn.execute(
            "select r.item_id from public.ratings r join public.item_neighbour_lists l on l.item_id = r.item_id "
            "join public.movies mv on mv.item_id = r.item_id "
            "where r.user_id = %s and r.rating >= 4 order by r.item_id limit 2", (heavy,)).fetchall()
        conn.execute("delete from public.movies where item_id = any(%s)", ([row[0] for row in liked_sources],))
        assert_cache_is_current(conn, heavy, model["version"])

        # Erasing the account takes the row with it; emptying the ratings table forgets every row.
        assert db.delete_user(user_id=heavy)
        assert cached_row(conn, heavy) is None
        assert cached_row(conn, other_heavy) is not None
        conn.execute("truncate public.ratings")
        assert cached_row(conn, other_heavy) is None


def test_concurrent_writers_and_a_refresh_lose_nothing(db, pg_url, model):
    rng = random.Random(22)
    items = model["items"]
    user = new_user(db, "busy")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        insert_ratings(conn, user, {i: rng.choice(RATINGS) for i in items[:250]})
    pools = [items[250:375], items[375:]]  # each writer its own items: no row-lock deadlock between them
    errors: list[BaseException] = []

    def write(pool: list[int], seed: int) -> None:
        local = random.Random(seed)
        try:
            with psycopg.connect(pg_url, autocommit=True) as conn:
                for _ in range(30):
                    with conn.transaction():
                        item = local.choice(pool)
                        if local.random() < 0.25:
                            conn.execute("delete from public.ratings where user_id = %s and item_id = %s",
                                         (user, item))
                        else:
                            conn.execute("select public.upsert_rating(%s::uuid, %s::bigint, %s::numeric)",
                                         (user, item, local.choice(RATINGS)))
                        conn.execute("select pg_sleep(%s)", (local.random() * 0.004,))
        except BaseException as exc:
            errors.append(exc)

    def refresh() -> None:
        try:
            with psycopg.connect(pg_url, autocommit=True) as conn:
                for _ in range(8):
                    conn.execute("delete from public.user_model_scores where user_id = %s", (user,))
                    conn.execute("select * from public.refresh_user_model_scores(null, 5)")
                    time.sleep(0.01)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(pools[0], 1)), threading.Thread(target=write, args=(pools[1], 2)),
               threading.Thread(target=refresh)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("select * from public.refresh_user_model_scores(null, 5)")  # the racer may have deleted last
        assert_cache_is_current(conn, user, model["version"])


def test_two_writers_crossing_the_threshold_at_once_lose_nothing(db, pg_url, model):
    """Both see 200 ratings with their own: the first sums the row (without the other's uncommitted rating), the
    second waits for it and adds its rating to that row."""
    items = model["items"]
    user = new_user(db, "crossing")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        insert_ratings(conn, user, dict.fromkeys(items[:199], 4.0))
        assert cached_row(conn, user) is None
    first = psycopg.connect(pg_url)
    try:
        first.execute("insert into public.ratings (user_id, item_id, rating) values (%s, %s, 5)", (user, items[300]))
        second_done = threading.Event()

        def second() -> None:
            with psycopg.connect(pg_url) as conn:
                conn.execute("insert into public.ratings (user_id, item_id, rating) values (%s, %s, 4.5)",
                             (user, items[301]))
                conn.commit()
            second_done.set()

        thread = threading.Thread(target=second)
        thread.start()
        assert not second_done.wait(0.5)  # waiting for the first writer's lock on the user's cache
        first.commit()
        thread.join()
    finally:
        first.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert len(rated(conn, user)) == 201
        assert_cache_is_current(conn, user, model["version"])


def test_a_new_version_ignores_the_old_rows_until_refreshed(db, pg_url, model):
    rng = random.Random(23)
    items = model["items"]
    users = [new_user(db, f"heavy{n}") for n in range(3)]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for n, user in enumerate(users):
            insert_ratings(conn, user, {i: rng.choice(RATINGS) for i in rng.sample(items, 210 + 5 * n)})
        old = {user: cached_row(conn, user) for user in users}
        assert all(row[0] == model["version"] for row in old.values())

        version = publish_model(db, pg_url, items, seed=2)
        conn.execute("update public.ratings set rating = 5 where user_id = %s and item_id = %s",
                     (users[0], min(rated(conn, users[0]))))
        for user in users:
            assert cached_row(conn, user) == old[user]  # untouched, still the old version
            for item_type, limit in LISTS:
                lists = served(conn, user, item_type, limit)
                assert {row[9] for row in lists} == {version}
                assert_same_lists(lists, served_live(conn, user, item_type, limit))

        # A refresh that fails (here: run under repeatable read) changes nothing; serving stays live and right.
        with pytest.raises(psycopg.errors.InvalidTransactionState), conn.transaction():
            conn.execute("set transaction isolation level repeatable read")
            conn.execute("select * from public.refresh_user_model_scores(null, 5)")
        assert cached_row(conn, users[1])[0] == model["version"]

        # In batches of one user: resumable, each batch its own transaction.
        figures = training.refresh_score_cache(db, batch_users=1)
        assert figures["model_version"] == version
        assert figures["refreshed"] == 3 and figures["heavy_users"] == 3
        for user in users:
            assert_cache_is_current(conn, user, version)
        # Rows kept current by the trigger are not summed again.
        assert training.refresh_score_cache(db)["refreshed"] == 0


def test_a_training_run_whose_refresh_fails_still_publishes(db, pg_url, model):
    class RefreshFails:
        def __init__(self, database) -> None:
            self._database = database

        def __getattr__(self, name):
            return getattr(self._database, name)

        def refresh_user_model_scores(self, **_):
            raise ConnectionError("the database went away")

    assert training._refresh_after_activation(RefreshFails(db), progress=None) == {
        "error": "ConnectionError: the database went away"}


def test_a_light_user_never_gets_a_row(db, pg_url, catalog):
    rng = random.Random(24)
    light, early = new_user(db, "light"), new_user(db, "early")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        # Ratings written while no model is active: nothing to cache, nothing fails.
        insert_ratings(conn, early, {i: rng.choice(RATINGS) for i in catalog[:240]})
        assert cached_row(conn, early) is None
        version = publish_model(db, pg_url, catalog, seed=3)
        insert_ratings(conn, light, {i: rng.choice(RATINGS) for i in catalog[:150]})
        insert_ratings(conn, light, {i: rng.choice(RATINGS) for i in catalog[150:199]})
        conn.execute("update public.ratings set rating = 5 where user_id = %s", (light,))
        conn.execute("delete from public.ratings where user_id = %s and item_id = any(%s)", (light, catalog[:3]))
        db.upsert_rating(user_id=light, item_id=catalog[200], rating=4.0)
        db.upsert_rating(user_id=light, item_id=catalog[201], rating=4.0)
        assert len(rated(conn, light)) == 198
        figures = training.refresh_score_cache(db)
        assert (figures["model_version"], figures["heavy_users"], figures["refreshed"]) == (version, 1, 1)
        assert cached_row(conn, light) is None
        assert_cache_is_current(conn, early, version)


def test_the_refresh_rpc_over_postgrest(postgrest, pg_url, catalog):  # noqa: F811
    emulator, database = postgrest
    assert database.refresh_user_model_scores() == {
        "model_version": None, "refreshed": 0, "heavy_users": 0, "next_user_id": None}
    version = publish_model(database, pg_url, catalog, seed=4)
    user = new_user(database, "over-postgrest")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("set session_replication_role = replica")  # written as if before the cache existed
        insert_ratings(conn, user, dict.fromkeys(catalog[:210], 4.5))
    first = database.refresh_user_model_scores(after_user_id=None, max_users=1)
    assert first == {"model_version": version, "refreshed": 1, "heavy_users": 1, "next_user_id": user}
    assert database.refresh_user_model_scores(after_user_id=user, max_users=1) == {
        "model_version": version, "refreshed": 0, "heavy_users": 0, "next_user_id": None}
    assert [call[0] for call in emulator.calls].count("refresh_user_model_scores") == 3
