"""Online evaluation: what each user was shown, by which method and model version, so click-through and
ratings that follow can be credited to them (`cinelibre report`, the `recommendation_daily_performance` view).
"""

from __future__ import annotations

from collections.abc import Sequence

from cinelibre.db.port import Database
from cinelibre.errors import CineLibreError
from cinelibre.observability import logger
from cinelibre.recommend.base import Recommendation


def record_shown(database: Database, user_id: str, recommendations: Sequence[Recommendation]) -> int:
    """Record a list as shown to the user; how many items were recorded. Never raises for a database
    failure: losing a measurement must not cost the user their recommendations, so it is logged instead."""
    if not recommendations:
        return 0
    impressions = [
        {"item_id": item.item_id, "method": item.method, "model_version": getattr(item, "model_version", None),
         "position": position}
        for position, item in enumerate(recommendations, start=1)
    ]
    try:
        return database.record_recommendation_impressions(user_id=user_id, impressions=impressions)
    except CineLibreError as exc:
        logger.warning("recording the recommendations shown failed",
                       extra={"error_code": exc.code, "items": len(impressions)})
        return 0
