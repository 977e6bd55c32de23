"""The `db` fixture's cleanup (tests/conftest.py `Leftovers`) truncates only the tables a test left rows in and
restarts only the sequences it moved: what it leaves must be exactly what the full `truncate ... restart
identity cascade` leaves, or a test would see the one before it."""

from __future__ import annotations

import psycopg

from tests.conftest import Leftovers, truncate_all

HASH = "$2b$10$abcdefghijklmnopqrstuuAbCdEfGhIjKlMnOpQrStUvWxYz01234"


def snapshot(url: str, leftovers: Leftovers) -> dict[str, object]:
    """Every public table's row count and every public sequence's position."""
    with psycopg.connect(url) as conn:
        tables = [row[0] for row in conn.execute("select format('%I.%I', schemaname, tablename) from pg_tables"
                                                 " where schemaname = 'public' order by 1")]
        sequences = [row[0] for row in conn.execute("select format('%I.%I', schemaname, sequencename)"
                                                    " from pg_sequences where schemaname = 'public' order by 1")]
        state: dict[str, object] = {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}
        for name in sequences:
            state[name] = conn.execute(f"select last_value, is_called from {name}").fetchone()
    assert set(leftovers.tables) <= set(tables)
    return state


def test_what_the_cleanup_leaves_is_what_the_full_truncate_leaves(pg_url, leftovers):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        # Rows through a cascade (a rating under an item and a user), a table on its own, and a sequence moved
        # by an insert that was rolled back, leaving its table empty.
        item = conn.execute("insert into public.items (item_type) values ('movie') returning id").fetchone()[0]
        conn.execute("insert into public.movies (item_id, tmdb_id, title) values (%s, 7, 'Leftover')", (item,))
        user = conn.execute(
            "insert into public.users (email, password_hash, name) values ('left@example.com', %s, 'Left')"
            " returning id", (HASH,)
        ).fetchone()[0]
        conn.execute("insert into public.ratings (user_id, item_id, rating) values (%s, %s, 4)", (user, item))
        with conn.transaction(force_rollback=True):
            conn.execute("insert into public.ingest_runs (source) values ('tmdb')")
    moved = snapshot(pg_url, leftovers)
    assert moved["public.ratings"] == 1 and moved["public.ingest_runs"] == 0
    assert moved["public.ingest_runs_id_seq"] == (1, True)

    leftovers.clear()
    cleaned = snapshot(pg_url, leftovers)
    truncate_all(pg_url)
    assert cleaned == snapshot(pg_url, leftovers)
    assert all(cleaned[table] == 0 for table in leftovers.tables)
    assert cleaned["public.ingest_runs_id_seq"] == (1, False)


def test_nothing_to_clean_is_nothing_done(pg_url, leftovers):
    truncate_all(pg_url)
    with psycopg.connect(pg_url) as conn:
        files_before = conn.execute("select pg_relation_filenode('public.items')").fetchone()[0]
    leftovers.clear()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("select pg_relation_filenode('public.items')").fetchone()[0] == files_before
