"""Sessions with a lifecycle, through the auth and recommend functions' Lambda handlers on the real database:
refresh rotation and reuse detection, logout, logout everywhere, password change, account deletion, and
401 for a deleted or disabled account."""

from __future__ import annotations

import psycopg
import pytest

PASSWORD = "correct horse battery"
NEW_PASSWORD = "violet marmalade kettle"


def register(client, email="ana@example.com", password=PASSWORD, name="Ana"):
    response = client.post("/auth/register", json_body={"email": email, "password": password, "name": name})
    assert response.status == 201, response.text
    return response.json()


def login(client, email="ana@example.com", password=PASSWORD):
    return client.post("/auth/login", json_body={"email": email, "password": password})


def refresh(client, token):
    return client.post("/auth/refresh", json_body={"refresh_token": token})


def test_refresh_rotates_and_the_new_pair_works(auth_client):
    first = register(auth_client)
    rotated = refresh(auth_client, first["refresh_token"])
    assert rotated.status == 200
    body = rotated.json()
    # `token` repeats access_token for the original FlickPage client (issue 15).
    assert set(body) == {"access_token", "token", "token_type", "expires_in", "refresh_token", "user"}
    assert body["token"] == body["access_token"]
    assert body["refresh_token"] != first["refresh_token"]
    assert body["user"] == first["user"]
    assert auth_client.get("/auth/me", token=body["access_token"]).status == 200
    assert refresh(auth_client, body["refresh_token"]).status == 200


def test_a_reused_refresh_token_revokes_its_whole_family(account_client):
    client = account_client(refresh_reuse_grace_s=0.0)
    first = register(client)
    second = refresh(client, first["refresh_token"]).json()
    # An attacker replays the first token: refused, and the session it belongs to ends.
    replay = refresh(client, first["refresh_token"])
    assert replay.status == 401
    assert replay.json()["error"]["message"] == "this refresh token was already used; the session has been ended"
    assert refresh(client, second["refresh_token"]).status == 401
    assert client.get("/auth/me", token=second["access_token"]).status == 401
    # Other sessions of the same account are not touched.
    other = login(client).json()
    assert client.get("/auth/me", token=other["access_token"]).status == 200


def test_a_repeat_within_the_grace_period_gets_the_sessions_current_refresh_token(auth_client):
    first = register(auth_client)
    winner = refresh(auth_client, first["refresh_token"]).json()
    # A second tab (or a retried request) with the same token: GoTrue's answer, the session's current token.
    repeat = refresh(auth_client, first["refresh_token"])
    assert repeat.status == 200
    assert repeat.json()["refresh_token"] == winner["refresh_token"]
    assert repeat.json()["user"] == winner["user"]
    assert auth_client.get("/auth/me", token=repeat.json()["access_token"]).status == 200
    # That token is still single-use: one refresh with it, and the session goes on.
    newest = refresh(auth_client, winner["refresh_token"]).json()
    assert auth_client.get("/auth/me", token=newest["access_token"]).status == 200


def test_within_the_grace_period_a_successor_already_used_is_not_handed_out_again(auth_client):
    first = register(auth_client)
    second = refresh(auth_client, first["refresh_token"]).json()
    third = refresh(auth_client, second["refresh_token"]).json()
    # The first token's successor has moved on: refused, but the session is kept.
    late = refresh(auth_client, first["refresh_token"])
    assert late.status == 401
    assert late.json()["error"]["message"] == "this refresh token was just used; use the newest one"
    assert auth_client.get("/auth/me", token=third["access_token"]).status == 200
    assert refresh(auth_client, third["refresh_token"]).status == 200


def test_parallel_refreshes_with_one_token_all_get_the_same_successor(account_client):
    from tests.auth.test_rate_limits import in_parallel

    client = account_client()
    first = register(client)
    responses = in_parallel(8, lambda _: refresh(client, first["refresh_token"]))
    assert {response.status for response in responses} == {200}
    assert len({response.json()["refresh_token"] for response in responses}) == 1


def test_the_database_holds_no_usable_successor(auth_client, pg_url):
    """What the grace period needs is stored wrapped: neither a token nor anything that unwraps without the
    used token, which is stored only as its hash."""
    from cinelibre.auth.accounts import token_hash, unwrap_successor

    first = register(auth_client)
    second = refresh(auth_client, first["refresh_token"]).json()
    with psycopg.connect(pg_url) as conn:
        stored = conn.execute(
            "select token_hash, successor_hash, successor_wrapped from public.auth_refresh_tokens"
            " where successor_wrapped is not null"
        ).fetchall()
    assert len(stored) == 1
    used_hash, successor_hash, wrapped = stored[0]
    assert successor_hash == token_hash(second["refresh_token"])
    assert second["refresh_token"] not in str(stored) and first["refresh_token"] not in str(stored)
    # Keyed by what the table holds (the used token's hash), the wrap opens to nothing useful.
    assert token_hash(unwrap_successor(used_hash, wrapped)) != successor_hash
    assert unwrap_successor(first["refresh_token"], wrapped) == second["refresh_token"]


@pytest.mark.parametrize("token", ["", "x" * 201])
def test_refresh_refuses_malformed_tokens(auth_client, token):
    assert refresh(auth_client, token).status == 422


def test_an_unknown_refresh_token_is_a_401(auth_client):
    response = refresh(auth_client, "not-a-token-we-issued")
    assert response.status == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_logout_ends_this_session_only(auth_client):
    first = register(auth_client)
    second = login(auth_client).json()
    out = auth_client.post("/auth/logout", token=first["access_token"])
    assert out.status == 204 and out.text == ""
    assert auth_client.get("/auth/me", token=first["access_token"]).status == 401
    assert refresh(auth_client, first["refresh_token"]).status == 401
    assert auth_client.get("/auth/me", token=second["access_token"]).status == 200


def test_logout_all_ends_every_session(auth_client):
    sessions = [register(auth_client), login(auth_client).json(), login(auth_client).json()]
    assert auth_client.post("/auth/logout-all", token=sessions[1]["access_token"]).status == 204
    for session in sessions:
        assert auth_client.get("/auth/me", token=session["access_token"]).status == 401
        assert refresh(auth_client, session["refresh_token"]).status == 401
    assert auth_client.post("/auth/logout", token=sessions[0]["access_token"]).status == 401


def test_changing_the_password_needs_the_current_one_and_ends_every_other_session(auth_client):
    this = register(auth_client)
    other = login(auth_client).json()

    def change(current, new):
        return auth_client.post(
            "/auth/password", token=this["access_token"],
            json_body={"current_password": current, "new_password": new},
        )

    wrong = change("not my password", NEW_PASSWORD)
    assert wrong.status == 403 and wrong.json()["error"]["code"] == "forbidden"
    weak = change(PASSWORD, "password1")
    assert weak.status == 422 and weak.json()["error"]["details"][0]["field"] == "password"
    assert change(PASSWORD, NEW_PASSWORD).status == 204
    assert auth_client.get("/auth/me", token=this["access_token"]).status == 200
    assert auth_client.get("/auth/me", token=other["access_token"]).status == 401
    assert refresh(auth_client, other["refresh_token"]).status == 401
    assert login(auth_client).status == 401
    assert login(auth_client, password=NEW_PASSWORD).status == 200


def test_deleted_or_disabled_accounts_are_refused_on_every_authenticated_route(
    recommend_client, auth_client, make_user, db, pg_url
):
    ana = make_user("ana")
    for path in ("/ratings/my", "/recommendations/personalized"):
        assert recommend_client.get(path, token=ana.token).status == 200
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("update public.users set disabled_at = now() where id = %s", (ana.id,))
    for path in ("/ratings/my", "/recommendations/personalized"):
        assert recommend_client.get(path, token=ana.token).status == 401
    assert auth_client.get("/auth/me", token=ana.token).status == 401

    bo = make_user("bo")
    assert db.delete_user(user_id=bo.id) is True
    for path in ("/ratings/my", "/recommendations/personalized"):
        refused = recommend_client.get(path, token=bo.token)
        assert refused.status == 401, path
        assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert recommend_client.post(
        "/interactions", token=bo.token, json_body={"kind": "search", "query": "drishyam"}
    ).status == 401


def test_a_lone_surrogate_in_a_refresh_token_is_refused_not_a_server_error(auth_client):
    """JSON may escape half of a UTF-16 pair (\\ud800): such a string cannot be encoded to be hashed or to key
    the successor's wrap, so it must be refused before either."""
    response = auth_client.post(
        "/auth/refresh", raw_body='{"refresh_token": "abc\\ud800def"}', headers={"content-type": "application/json"}
    )
    assert 400 <= response.status < 500, response.text
