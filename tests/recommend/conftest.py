import psycopg
import pytest

from tests.api.clients import auth_client, make_user, password_hash, recommend_client, search_client  # noqa: F401


@pytest.fixture
def forget_models(pg_url):
    """Trained model versions are not tied to items, so the shared truncation does not reach them."""
    yield
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("truncate public.recommender_active, public.recommender_models cascade")
