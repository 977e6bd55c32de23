import pytest

from tests.api.clients import auth_client, make_user, password_hash, recommend_client, search_client  # noqa: F401
from tests.search import catalog


@pytest.fixture(scope="session")
def embedded_catalog(embedder):
    """The test catalog with real embeddings, computed once per session."""
    from cinelibre.embedding import book_text, movie_text

    movies = catalog.movie_rows()
    books = catalog.book_rows()
    return (
        catalog.embedded(movies, [movie_text(row) for row in movies], embedder),
        catalog.embedded(books, [book_text(row) for row in books], embedder),
    )


@pytest.fixture
def search_catalog(db, embedded_catalog):
    """The catalog loaded into the (emptied-after-each-test) database: {(item_type, title): id}."""
    movies, books = embedded_catalog
    return catalog.load(db, movies, books)
