"""The search function: semantic search (this is the one function that loads the embedding model) and
the catalog routes."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.metrics import MetricUnit
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import Field

from cinelibre import snapstart
from cinelibre.api import catalog, compat
from cinelibre.api.app import build_app, readiness_response
from cinelibre.api.catalog import Category, Genre, Language, YearFrom, YearTo
from cinelibre.api.dependencies import ClientIp, DatabaseDep, SettingsDep
from cinelibre.api.schemas import ERROR_RESPONSES, ItemTypeName, ItemTypeQuery
from cinelibre.auth.ratelimit import Action, RateLimiter
from cinelibre.embedding import get_embedder
from cinelibre.errors import ModelUnavailableError
from cinelibre.observability import logger, metrics
from cinelibre.search import (
    DETAIL_FIELDS,
    MAX_QUERY_LENGTH,
    MAX_RESULTS,
    QueryEmbedder,
    SearchFilters,
    SearchOutcome,
    SemanticSearch,
)
from cinelibre.settings import Settings, get_settings

NAME = "cinelibre-search"
DEFAULT_THRESHOLD = 0.3


async def get_query_embedder(settings: SettingsDep) -> QueryEmbedder:
    # Loaded when the app is made (create_app); here only looked up, so no worker thread is needed.
    return get_embedder(settings)


EmbedderDep = Annotated[QueryEmbedder, Depends(get_query_embedder)]


class SearchResult(compat.RecommendedItemAliases):
    item_id: int
    item_type: ItemTypeName
    title: str
    year: int | None
    image_url: str | None
    score: float = Field(
        description="Fused rank score (reciprocal rank fusion); only the order means something"
    )
    similarity: float | None = Field(
        description="Cosine similarity of query and item (0-1); null for a title match found beyond the "
        "semantic candidates"
    )
    title_similarity: float | None = Field(
        description="Trigram word similarity of query and title, if matched"
    )
    matched_by: list[str] = Field(
        description='The rankings that found it: "semantic" (meaning), "title" (a title in any script or '
        'spelling) and "text" (full-text match of titles, people, genres and overview) and "people" (a director, cast '
        'member or author named in any script or spelling)'
    )
    language: str | None = None
    genres: list[str] | None = None
    director: str | None = None
    categories: list[str] | None = None
    authors: list[str] | None = None
    overview: str | None = Field(None, description="A movie's overview or a book's description")


class SearchResponse(compat.SearchSourceAlias):
    query: str
    item_type: ItemTypeQuery
    count: int
    results: list[SearchResult]


# The per-IP search limit (429, shared by every instance) is checked by the route itself, beside the embedding of
# the query (SemanticSearch.search's `admit`), not as a route dependency before it (issue 12, session 5).
router = APIRouter(prefix="/search", tags=["search"], responses=ERROR_RESPONSES)


def serves_one_request_at_a_time(request: Request) -> bool:
    """True under the Lambda handler (Mangum puts the invocation's event in the scope): an instance serves one
    invocation at a time, so work done on the event loop's thread keeps no other request waiting."""
    return "aws.event" in request.scope


# `async def` with the search itself run on the event loop's thread under Lambda (issue 12, session 6): a plain `def`
# route runs on an anyio worker thread, and Mangum runs each invocation as a new root task, so anyio starts that
# thread afresh for every request and FastAPI hops to it twice (the route, then the response's validation).
# Elsewhere (the local server, which serves requests concurrently) the search still runs on a worker thread.
@router.get("/semantic", response_model=SearchResponse, response_description=catalog.BOOK_STRINGS)
async def semantic_search(
    request: Request,
    database: DatabaseDep,
    embedder: EmbedderDep,
    settings: SettingsDep,
    ip: ClientIp,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_LENGTH, description="What to look for")],
    item_type: compat.ItemTypeFilter = "all",
    limit: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = 10,
    threshold: Annotated[
        float, Query(ge=0.0, le=1.0, description="Minimum cosine similarity of a semantic match")
    ] = DEFAULT_THRESHOLD,
    language: Language = None,
    genre: Genre = None,
    category: Category = None,
    year_from: YearFrom = None,
    year_to: YearTo = None,
) -> Any:
    """Movies and books whose meaning is close to the query, fused with title matches so that a query
    naming a title (even misspelt, or in another script) finds it first, and with full-text matches of titles,
    people, genres and synopses. The threshold bounds the semantic matches only."""
    filters = SearchFilters(
        language=language, genre=genre, category=category, year_from=year_from, year_to=year_to
    )
    limiter = RateLimiter(database, settings)

    def run_search() -> SearchOutcome:
        return SemanticSearch(database, embedder).search(
            q, item_type=item_type, limit=limit, threshold=threshold, filters=filters,
            admit=lambda: limiter.check(Action.SEARCH, ip=ip),
        )

    outcome = run_search() if serves_one_request_at_a_time(request) else await run_in_threadpool(run_search)
    metrics.add_metric(name="Searches", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="EmbeddingTime", unit=MetricUnit.Milliseconds, value=outcome.embedding_ms)
    logger.info(
        "search",
        extra={
            "results": len(outcome.hits),
            "embedding_ms": round(outcome.embedding_ms, 2),
            "database_ms": round(outcome.database_ms, 2),
        },
    )
    results = []
    for hit in outcome.hits:
        details = hit.details
        results.append(
            {
                "item_id": hit.item_id,
                "item_type": hit.item_type,
                "title": hit.title,
                "year": hit.year,
                "image_url": hit.image_url,
                "score": round(hit.score, 6),
                "similarity": None if hit.similarity is None else round(hit.similarity, 4),
                "title_similarity": None if hit.title_similarity is None else round(hit.title_similarity, 4),
                "matched_by": list(hit.matched_by),
                **{name: details.get(name) for name in DETAIL_FIELDS},
            }
        )
    body = {"query": q, "item_type": item_type, "count": len(results), "results": results}
    return compat.respond(settings, SearchResponse, body, compat.flickpage_search)


def model_readiness(settings: Settings) -> dict[str, Any]:
    return dict(get_embedder(settings).readiness())


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    try:
        # Load the model while the container initialises, not during the first search.
        get_embedder(settings).load()
        if snapstart.snapstart_init():
            # -- SnapStart (issue 14): ONNX Runtime's first run plans its memory; let the snapshot hold that.
            get_embedder(settings).embed_query("a film to warm the model before the snapshot")
    except ModelUnavailableError as exc:
        # Keep serving: the catalog routes work without the model and GET / reports what is missing.
        logger.error("embedding model unavailable", extra={"error": exc.message})
    app = build_app(
        name=NAME,
        settings=settings,
        routers=[router, catalog.router],
        needs_tokens=False,
        description="Semantic search over movies and books, and the catalog.",
    )

    @app.get("/", tags=["health"])
    def root(database: DatabaseDep, settings: SettingsDep) -> JSONResponse:
        return readiness_response(
            NAME, {"database": database.health, "model": lambda: model_readiness(settings)}
        )

    return app
