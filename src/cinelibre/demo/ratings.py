"""Deterministic demo users with distinct tastes, and their ratings, so that personalised recommendations,
similar items and popularity all show something meaningful out of the box.

Each persona likes some genres, categories and languages; its users rate items that match highly and a
few that do not poorly, with seeded noise. The same seed always gives the same users and ratings."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from cinelibre.db.port import Database, Row
from cinelibre.errors import ConflictError

DEMO_EMAIL_DOMAIN = "demo.cinelibre.example"
DEMO_PASSWORD = "cinelibre-demo"  # noqa: S105 (documented: demo accounts exist only in the local database)
USERS_PER_PERSONA = 4
LIKED_PER_USER = 18
DISLIKED_PER_USER = 6
SEED = 20261126


@dataclass(frozen=True)
class Persona:
    slug: str
    name: str
    genres: frozenset[str] = field(default_factory=frozenset)
    categories: frozenset[str] = field(default_factory=frozenset)
    languages: frozenset[str] = field(default_factory=frozenset)

    def likes(self, item: Row) -> bool:
        if item["item_type"] == "movie":
            genre_match = bool(self.genres & set(item["genres"]))
            return genre_match and (not self.languages or item["language"] in self.languages)
        return bool(self.categories & set(item["categories"]))


PERSONAS: tuple[Persona, ...] = (
    Persona("noir", "Noir Night Owl", frozenset({"Crime", "Thriller", "Mystery"}),
            frozenset({"Crime", "Mystery", "Thriller", "True Crime"})),
    Persona("stargazer", "Stargazer", frozenset({"Science Fiction", "Fantasy"}),
            frozenset({"Science Fiction", "Fantasy", "Dystopian"})),
    Persona("romantic", "Hopeless Romantic", frozenset({"Romance", "Music"}), frozenset({"Romance", "Poetry"})),
    Persona("tollywood", "Tollywood Action Fan", frozenset({"Action", "Adventure", "Fantasy"}),
            frozenset({"Mythology", "Adventure"}), frozenset({"te", "ta", "kn"})),
    Persona("mollywood", "Malayalam Cinema Devotee", frozenset({"Drama", "Crime", "Thriller", "Comedy"}),
            frozenset({"Indian Literature", "Short Stories"}), frozenset({"ml"})),
    Persona("classicist", "Classic Cinema Buff", frozenset({"Drama", "History"}),
            frozenset({"Classics", "Literary Fiction", "Philosophy", "Drama"}), frozenset({"bn", "mr"})),
    Persona("chills", "Horror Hound", frozenset({"Horror", "Mystery"}), frozenset({"Horror"})),
    Persona("family", "Family Movie Night", frozenset({"Family", "Animation", "Comedy"}),
            frozenset({"Children's Books", "Young Adult", "Humor"})),
    Persona("curious", "Curious Mind", frozenset({"History", "War", "Documentary"}),
            frozenset({"History", "Science", "Biography", "Memoir", "Psychology", "Business & Economics"})),
)


def _half_step(value: float) -> float:
    return min(5.0, max(0.5, round(value * 2) / 2))


def plan_ratings(items: list[Row], seed: int = SEED) -> list[tuple[Persona, int, list[tuple[int, float]]]]:
    """(persona, user number, [(item_id, rating)]) for every demo user; a pure function of items and seed."""
    # By what an item is, not by its id: the demo sources load at the same time, so ids are handed out in
    # whichever order their pages land, and the plan must not change with it.
    ordered = sorted(items, key=lambda item: (item["item_type"], item["title"], item["year"] or 0))
    plan = []
    for persona_index, persona in enumerate(PERSONAS):
        liked_pool = [item for item in ordered if persona.likes(item)]
        other_pool = [item for item in ordered if not persona.likes(item)]
        for number in range(1, USERS_PER_PERSONA + 1):
            rng = random.Random(seed * 1_000 + persona_index * 10 + number)
            liked = rng.sample(liked_pool, min(LIKED_PER_USER, len(liked_pool)))
            disliked = rng.sample(other_pool, min(DISLIKED_PER_USER, len(other_pool)))
            ratings = [(item["item_id"], _half_step(rng.gauss(4.4, 0.45))) for item in liked]
            ratings += [(item["item_id"], _half_step(rng.gauss(2.0, 0.6))) for item in disliked]
            plan.append((persona, number, ratings))
    return plan


def demo_email(persona: Persona, number: int) -> str:
    return f"{persona.slug}-{number}@{DEMO_EMAIL_DOMAIN}"


def catalog_items(database: Database) -> list[Row]:
    """Every catalog item with what the personas look at (type, genres or categories, language)."""
    items: list[Row] = []
    for kind, lister in (("movie", database.list_movies), ("book", database.list_books)):
        offset = 0
        while True:
            filters: dict[str, Any] = {"language": None, "year_from": None, "year_to": None}
            filters["genre" if kind == "movie" else "category"] = None
            page, total = lister(**filters, limit=100, offset=offset)
            for row in page:
                items.append({
                    "item_id": row["id"], "item_type": kind, "title": row["title"], "year": row.get("year"),
                    "genres": row.get("genres") or [],
                    "categories": row.get("categories") or [],
                    "language": row.get("original_language") or row.get("language"),
                })
            offset += len(page)
            if not page or offset >= total:
                break
    return items


def load_ratings(database: Database, *, password_hash: str, seed: int = SEED) -> dict[str, int]:
    """Create the demo users (or find them) and upsert their ratings. Idempotent: rerunning rewrites the
    same values."""
    plan = plan_ratings(catalog_items(database), seed)
    users = ratings = 0
    for persona, number, user_ratings in plan:
        email = demo_email(persona, number)
        user: Row | None
        try:
            user = database.create_user(email=email, password_hash=password_hash, name=f"{persona.name} {number}")
            users += 1
        except ConflictError:
            user = database.get_user_credentials(email=email)
        if user is None:  # deleted between the two calls
            continue
        for item_id, value in user_ratings:
            database.upsert_rating(user_id=user["id"], item_id=item_id, rating=value)
            ratings += 1
    return {"users_created": users, "ratings": ratings}
