from tests.api.clients import auth_client, make_user, password_hash, recommend_client, search_client  # noqa: F401
