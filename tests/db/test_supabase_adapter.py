"""Contract tests of the Supabase adapter: the PostgREST requests it sends and how it maps the answers.
Supabase's hosted API is the one thing here that cannot run locally, so respx stands in for it."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from cinelibre.db.supabase import SupabaseDatabase
from cinelibre.errors import (
    ConfigurationError,
    ConflictError,
    DatabaseError,
    DatabaseUnavailableError,
    NotFoundError,
    ValidationError,
)
from cinelibre.text import SEARCH_KEYS_VERSION, phonetic_key

URL = "https://abcdefghijklmnop.supabase.co"
KEY = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJlLW5vdC1jaGVja2Vk"
RPC = f"{URL}/rest/v1/rpc"


@pytest.fixture
def supabase():
    with respx.mock(assert_all_called=True) as router:
        yield router, SupabaseDatabase(URL, KEY, timeout_s=3)


def test_match_movies_posts_named_arguments_with_the_service_role_key(supabase):
    router, database = supabase
    route = router.post(f"{RPC}/match_movies").respond(200, json=[{"id": 7, "title": "Drishyam", "similarity": 0.8}])
    rows = database.match_movies(query_embedding=[0.5, 0.25], threshold=0.3, count=5, language="ml")
    assert rows == [{"id": 7, "title": "Drishyam", "similarity": 0.8}]
    request = route.calls.last.request
    assert request.headers["apikey"] == KEY
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {
        "query_embedding": [0.5, 0.25], "match_threshold": 0.3, "match_count": 5, "filter_language": "ml",
        "filter_genre": None, "year_from": None, "year_to": None,
    }


def test_upsert_sends_rows_as_a_json_array(supabase):
    router, database = supabase
    route = router.post(f"{RPC}/upsert_movies").respond(200, json=[{"inserted": 1, "updated": 0, "unchanged": 0}])
    keys_route = router.post(f"{RPC}/set_title_keys").respond(200, json=1)
    row = {"tmdb_id": 1, "title": "RRR", "director": "S. S. Rajamouli", "embedding": [0.1, 0.2]}
    counts = database.upsert_movies(movies=[row])
    assert counts == {"inserted": 1, "updated": 0, "unchanged": 0}
    assert json.loads(route.calls.last.request.content) == {"movie_rows": [row], "mark_demo": False}
    # The title and people keys (issue 12) follow in a second call, computed from the same rows: the
    # title's key and its sound, the director's key without initials, and the version of the keys (session 3).
    assert json.loads(keys_route.calls.last.request.content) == {
        "key_rows": [{"item_type": "movie", "external_id": "1", "title_keys": f"{phonetic_key('RRR')} / rr",
                      "people_keys": "rasamouli", "keys_version": SEARCH_KEYS_VERSION}]}


def test_scalar_functions_return_the_bare_value(supabase):
    router, database = supabase
    router.post(f"{RPC}/delete_rating").respond(200, json=False)
    assert database.delete_rating(user_id="u", rating_id=3) is False


def test_pagination_total_comes_from_the_rows(supabase):
    router, database = supabase
    router.post(f"{RPC}/list_books").respond(200, json=[{"id": 1, "title": "Godan", "total_count": 41}])
    assert database.list_books(language="hi", category=None, year_from=None, year_to=None, limit=1, offset=0) == (
        [{"id": 1, "title": "Godan"}], 41)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (409, {"code": "23505", "message": "duplicate key value violates unique constraint \"users_email_key\"",
               "details": "Key (email)=(a@b.c) already exists.", "hint": None}, ConflictError),
        (409, {"code": "23503", "message": "insert or update on table \"ratings\" violates foreign key",
               "details": "Key (item_id)=(9) is not present.", "hint": None}, NotFoundError),
        (400, {"code": "23514", "message": "new row violates check constraint", "details": None, "hint": None},
         ValidationError),
        (400, {"code": "P0002", "message": "item not found", "details": None, "hint": None}, NotFoundError),
        (500, {"code": "57014", "message": "canceling statement due to statement timeout", "details": None,
               "hint": None}, DatabaseUnavailableError),
        (503, {"code": "PGRST002", "message": "Could not query the database for the schema cache", "details": None,
               "hint": None}, DatabaseUnavailableError),
        (401, {"code": "PGRST301", "message": "JWSError JWSInvalidSignature", "details": None, "hint": None},
         ConfigurationError),
        (404, {"code": "PGRST202", "message": "Could not find the function public.create_user", "details": None,
               "hint": None}, DatabaseError),
    ],
)
def test_postgrest_errors_map_to_project_errors(supabase, status, body, error):
    router, database = supabase
    router.post(f"{RPC}/create_user").respond(status, json=body)
    with pytest.raises(error) as raised:
        database.create_user(email="a@b.c", password_hash="$2b$x", name="A")
    assert "JWSError" not in raised.value.message and "Key (" not in raised.value.message


def test_a_stale_keep_alive_connection_is_retried_once(supabase):
    router, database = supabase
    route = router.post(f"{RPC}/get_user")
    route.side_effect = [httpx.RemoteProtocolError("Server disconnected"), httpx.Response(200, json=[])]
    assert database.get_user(user_id="00000000-0000-0000-0000-000000000000") is None
    assert route.call_count == 2


def test_timeouts_and_unreachable_hosts_are_unavailable(supabase):
    router, database = supabase
    router.post(f"{RPC}/health").mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(DatabaseUnavailableError, match="timed out"):
        database.health()
    router.post(f"{RPC}/get_movie").mock(side_effect=httpx.ConnectError("no route"))
    with pytest.raises(DatabaseUnavailableError, match="SUPABASE_URL"):
        database.get_movie(movie_id=1)
