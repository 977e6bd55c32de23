"""The recommend function: ratings, interactions and recommendations (personalized, similar, popular).
It needs no embedding model: similar and content-based items come from embeddings already stored."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from fastapi import APIRouter, FastAPI, Query, Response
from fastapi.responses import JSONResponse
from pydantic import AliasChoices, BaseModel, Field

from cinelibre.api import compat
from cinelibre.api.app import build_app, readiness_response
from cinelibre.api.catalog import MAX_ITEM_ID, ItemId, PageOffset
from cinelibre.api.dependencies import SESSION_ENDED, CurrentUserId, DatabaseDep, SettingsDep, SignedClaims
from cinelibre.api.schemas import ERROR_RESPONSES, MAX_PAGE_SIZE, ItemTypeName, Page, page
from cinelibre.db.port import Database, ItemType
from cinelibre.errors import AuthenticationError, NotFoundError, ValidationError
from cinelibre.observability import logger, metrics
from cinelibre.recommend import MAX_RECOMMENDATIONS, Hybrid, Popularity, Recommendation, service
from cinelibre.recommend.base import Method
from cinelibre.recommend.hybrid import Start
from cinelibre.recommend.online import record_shown
from cinelibre.settings import Settings, get_settings

NAME = "cinelibre-recommend"
MAX_INTERACTION_QUERY = 500
DEFAULT_PAGE_SIZE = 20
MY_RATINGS_FLICKPAGE = (
    "With CINELIBRE_API_COMPAT=flickpage: a bare array of the ratings (the page's `items`), each `item_id` a "
    f"string, as the original FlickPage client reads it; without `limit`, the newest {MAX_PAGE_SIZE}."
)
PERSONALIZED_FLICKPAGE = (
    "With CINELIBRE_API_COMPAT=flickpage: `method` (top level and per item) is `collaborative_filtering` for "
    "every method learnt from ratings, as the original FlickPage client expects; `content_based` and "
    "`popularity` keep their names."
)

RecommendationLimit = Annotated[
    int, Query(ge=1, le=MAX_RECOMMENDATIONS, description=f"How many items, at most {MAX_RECOMMENDATIONS}")
]


class RatingRequest(BaseModel):
    item_id: int = Field(ge=1, le=MAX_ITEM_ID)
    rating: float = Field(ge=0.5, le=5.0, multiple_of=0.5, description="0.5 to 5.0 in steps of 0.5")
    item_type: ItemTypeName | None = Field(
        None, description="Optional; when given it must be the item's type"
    )


class Rating(BaseModel):
    id: int
    item_id: int
    item_type: ItemTypeName
    rating: float
    created_at: datetime
    updated_at: datetime


class RatingSaved(Rating):
    created: bool = Field(
        description="true when this rating is new, false when it replaced the user's earlier one"
    )


class RatedItem(Rating):
    title: str
    year: int | None
    image_url: str | None


class InteractionRequest(BaseModel):
    kind: Literal["view", "click", "search"] = Field(
        validation_alias=AliasChoices("kind", "interaction_type")
    )
    item_id: int | None = Field(None, ge=1, le=MAX_ITEM_ID, description="Required for view and click")
    query: str | None = Field(
        None, min_length=1, max_length=MAX_INTERACTION_QUERY, description="Required for search"
    )


class Interaction(compat.SuccessAlias):
    id: int
    kind: str
    item_id: int | None
    query: str | None
    created_at: datetime


class RecommendedItem(compat.RecommendedItemAliases):
    item_id: int
    item_type: ItemTypeName
    title: str
    year: int | None
    image_url: str | None
    score: float
    method: Method
    reason: str
    predicted_rating: float | None = Field(
        None, description="The trained model's predicted rating (0.5-5); null where it has no trustworthy one"
    )
    similarity: float | None = None
    model_version: int | None = Field(None, description="The trained model version; null for other methods")


class PersonalizedRecommendations(compat.RecommendationsAlias):
    method: Method = Field(
        description="ease or item_knn (the trained model), content_based or popularity: what chose these items"
    )
    explanation: str
    rating_count: int
    model_version: int | None = Field(None, description="The trained model version behind `method`, if any")
    items: list[RecommendedItem]


class SourceItem(BaseModel):
    item_id: int
    item_type: ItemTypeName
    title: str


class SimilarItems(compat.SimilarItemsAlias):
    source: SourceItem
    target_type: ItemTypeName
    items: list[RecommendedItem]


class PopularItem(RecommendedItem):
    avg_rating: float | None = Field(
        None, description=compat.kept("Average of our users' ratings of the item (null when unrated)")
    )
    rating_count: int = Field(0, description=compat.kept("How many of our users rated it"))


class PopularItems(compat.PopularItemsAlias):
    method: Method = "popularity"
    items: list[PopularItem]


def _item_out(item: Recommendation) -> dict[str, Any]:
    return {
        "item_id": item.item_id,
        "item_type": item.item_type,
        "title": item.title,
        "year": item.year,
        "image_url": item.image_url,
        "score": round(item.score, 6),
        "method": item.method,
        "reason": item.reason,
        "predicted_rating": item.predicted_rating,
        "similarity": item.similarity,
        "model_version": item.model_version,
    }


def _catalog_item(database: Database, item_type: ItemType, item_id: int) -> dict[str, Any]:
    row = database.get_movie(movie_id=item_id) if item_type == "movie" else database.get_book(book_id=item_id)
    if row is None:
        raise NotFoundError(f"no {item_type} with id {item_id}")
    return row


ratings = APIRouter(prefix="/ratings", tags=["ratings"], responses=ERROR_RESPONSES)
interactions = APIRouter(prefix="/interactions", tags=["interactions"], responses=ERROR_RESPONSES)
recommendations = APIRouter(prefix="/recommendations", tags=["recommendations"], responses=ERROR_RESPONSES)


@ratings.post("", response_model=RatingSaved, status_code=201, responses={200: {"model": RatingSaved}})
def rate(
    body: RatingRequest, user_id: CurrentUserId, database: DatabaseDep, response: Response
) -> dict[str, Any]:
    """Rate an item, or change your rating of it (one rating per user and item): 201 when new, 200 when
    updated; 404 for an unknown item."""
    if body.item_type is not None:
        _catalog_item(database, body.item_type, body.item_id)
    saved = database.upsert_rating(user_id=user_id, item_id=body.item_id, rating=body.rating)
    if not saved["created"]:
        response.status_code = 200
    metrics.add_metric(name="RatingsSaved", unit=MetricUnit.Count, value=1)
    return saved


@ratings.get("/my", response_model=Page[RatedItem], response_description=MY_RATINGS_FLICKPAGE)
def my_ratings(
    user_id: CurrentUserId,
    database: DatabaseDep,
    settings: SettingsDep,
    item_type: compat.ItemTypeFilter = "all",
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size, default 20")] = None,
    offset: PageOffset = 0,
) -> Any:
    """Your ratings, newest first, with each item's title and image."""
    if limit is None:
        # The original client cannot page a bare array, so it gets the largest page.
        limit = MAX_PAGE_SIZE if compat.flickpage(settings) else DEFAULT_PAGE_SIZE
    rated = page(
        lambda size, skip: database.list_user_ratings(
            user_id=user_id, item_type=item_type, limit=size, offset=skip
        ),
        limit,
        offset,
    )
    return compat.respond(settings, Page[RatedItem], rated, compat.flickpage_ratings)


@ratings.delete("/{rating_id}", status_code=204)
def delete_rating(rating_id: ItemId, user_id: CurrentUserId, database: DatabaseDep) -> Response:
    """Delete one of your ratings. Another user's rating, or one that does not exist, is a 404."""
    if not database.delete_rating(user_id=user_id, rating_id=rating_id):
        raise NotFoundError(f"you have no rating with id {rating_id}")
    return Response(status_code=204)


@interactions.post("", response_model=Interaction, status_code=201)
def record_interaction(
    body: InteractionRequest, user_id: CurrentUserId, database: DatabaseDep
) -> dict[str, Any]:
    """Record a view or click of an item, or a search. 404 for an unknown item."""
    if body.kind in ("view", "click") and body.item_id is None:
        raise ValidationError(f"item_id is required for a {body.kind}", details={"field": "item_id"})
    if body.kind == "search" and (body.query is None or not body.query.strip()):
        raise ValidationError("query is required for a search", details={"field": "query"})
    query = " ".join(body.query.split()) if body.query else None
    return database.record_interaction(user_id=user_id, kind=body.kind, item_id=body.item_id, query=query)


@recommendations.get(
    "/personalized", response_model=PersonalizedRecommendations, response_description=PERSONALIZED_FLICKPAGE
)
def personalized(
    claims: SignedClaims,
    database: DatabaseDep,
    settings: SettingsDep,
    item_type: compat.ItemTypeFilter = "all",
    limit: RecommendationLimit = 10,
) -> Any:
    """The trained item-to-item model when you liked a title it knows ("because you liked ..."),
    content-based from what you rated best when not, the titles rated most here when you have rated
    nothing. Never an item (or a second copy of a title) you rated."""
    user_id = claims.user_id
    # The session check, the rating count and the trained model's list in one round trip (SignedClaims left
    # the session check to this call).
    start = database.get_personalized_start(
        user_id=user_id, session_id=claims.session_id or "", item_type=item_type, count=limit
    )
    if not start.get("session_live"):
        raise AuthenticationError(SESSION_ENDED)
    known = Start(rating_count=int(start["rating_count"]), model_rows=start.get("model_items"))
    result = service.personalized(database, user_id, n=limit, item_type=item_type, start=known)
    record_shown(database, user_id, result.recommendations)  # online evaluation; never fails the request
    with single_metric(
        name="PersonalizedRecommendations",
        unit=MetricUnit.Count,
        value=1,
        namespace=metrics.namespace,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        metric.add_dimension(name="method", value=result.method)
    logger.info(
        "recommendations",
        extra={"method": result.method, "model_version": result.model_version, "items": len(result.recommendations)},
    )
    body = {
        "method": result.method,
        "explanation": result.explanation,
        "rating_count": result.rating_count,
        "model_version": result.model_version,
        "items": [_item_out(item) for item in result.recommendations],
    }
    return compat.respond(settings, PersonalizedRecommendations, body, compat.flickpage_recommendations)


@recommendations.get("/similar/{item_type}/{item_id}", response_model=SimilarItems)
def similar(
    item_type: ItemTypeName,
    item_id: ItemId,
    database: DatabaseDep,
    target_type: Annotated[
        ItemTypeName | None, Query(description="movie or book; defaults to item_type")
    ] = None,
    limit: RecommendationLimit = 10,
) -> dict[str, Any]:
    """Items close in content to a movie or book, of the same kind or, with target_type, the other one."""
    source = _catalog_item(database, item_type, item_id)
    target: ItemType = target_type or item_type
    items = Hybrid().fit(database).similar_items(item_id, limit, target_type=target)
    return {
        "source": {"item_id": item_id, "item_type": item_type, "title": source["title"]},
        "target_type": target,
        "items": [_item_out(item) for item in items],
    }


@recommendations.get("/popular", response_model=PopularItems)
def popular(
    database: DatabaseDep, item_type: compat.ItemTypeFilter = "all", limit: RecommendationLimit = 10
) -> dict[str, Any]:
    """The most popular items: the titles rated most here, ties broken by a damped average rating (the
    source's votes for titles nobody here has rated yet)."""
    items = Popularity().fit(database).recommend(None, limit, exclude_seen=False, item_type=item_type)
    return {
        "method": "popularity",
        "items": [
            _item_out(item) | compat.popularity_figures(item.average_rating, item.rating_count) for item in items
        ],
    }


ROUTERS = (ratings, interactions, recommendations)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = build_app(
        name=NAME,
        settings=settings,
        routers=ROUTERS,
        needs_tokens=True,
        description="Ratings, interactions and hybrid recommendations.",
    )

    @app.get("/", tags=["health"])
    def root(database: DatabaseDep) -> JSONResponse:
        return readiness_response(NAME, {"database": database.health})

    return app
