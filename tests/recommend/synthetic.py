"""Small catalogs and rating sets whose right answers are known, with fixed seeds.

Embeddings are made by hand: every item of "theme" k lies near the k-th axis of the 384-d space, so items
of one theme are each other's nearest neighbours and far from the other themes' items."""

from __future__ import annotations

import math
import random

DIMENSION = 384
HASH = (
    "$2b$10$abcdefghijklmnopqrstuuAbCdEfGhIjKlMnOpQrStUvWxYz01234"  # never checked: users log in nowhere here
)


def theme_embedding(theme: int, seed: int, *, noise: float = 0.015) -> list[float]:
    generator = random.Random(seed)
    values = [noise * generator.gauss(0, 1) for _ in range(DIMENSION)]
    values[theme] += 1.0
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


def movie_row(tmdb_id: int, title: str, *, theme: int, **fields) -> dict:
    row = {
        "tmdb_id": tmdb_id,
        "title": title,
        "original_title": title,
        "overview": f"Overview of {title}.",
        "release_date": "2016-05-20",
        "original_language": "en",
        "genres": ["Drama"],
        "director": "A Director",
        "cast_members": [{"name": "An Actor", "character": "A Role"}],
        "crew": [{"name": "A Writer", "job": "Writer"}],
        "runtime": 120,
        "popularity": 10.0,
        "vote_average": 7.0,
        "vote_count": 100,
        "poster_url": f"https://image.tmdb.org/t/p/w500/{tmdb_id}.jpg",
        "content_hash": f"movie-{tmdb_id}",
        "embedding": theme_embedding(theme, tmdb_id),
    }
    row.update(fields)
    return row


def book_row(number: int, title: str, *, theme: int, **fields) -> dict:
    row = {
        "google_id": f"book{number:05d}",
        "title": title,
        "subtitle": None,
        "authors": ["An Author"],
        "description": f"Description of {title}.",
        "categories": ["Fiction"],
        "published_date": "2001",
        "language": "en",
        "page_count": 320,
        "isbn_10": None,
        "isbn_13": None,
        "thumbnail_url": f"https://books.google.com/{number}.jpg",
        "publisher": None,
        "average_rating": 4.0,
        "ratings_count": 50,
        "content_hash": f"book-{number}",
        "embedding": theme_embedding(theme, 100_000 + number),
    }
    row.update(fields)
    return row


def load_catalog(db, movies: list[dict], books: list[dict] = ()) -> dict[str, int]:
    """Insert the rows; {title: item id}."""
    if movies:
        db.upsert_movies(movies=movies)
    if books:
        db.upsert_books(books=list(books))
    ids: dict[str, int] = {}
    for offset in range(0, len(movies), 100):
        rows, _ = db.list_movies(
            language=None, genre=None, year_from=None, year_to=None, limit=100, offset=offset
        )
        ids |= {row["title"]: row["id"] for row in rows}
    for offset in range(0, len(books), 100):
        rows, _ = db.list_books(
            language=None, category=None, year_from=None, year_to=None, limit=100, offset=offset
        )
        ids |= {row["title"]: row["id"] for row in rows}
    return ids


def create_users(db, *names: str) -> dict[str, str]:
    return {
        name: db.create_user(email=f"{name}@example.com", password_hash=HASH, name=name)["id"]
        for name in names
    }


def two_taste_world(db, *, users_per_group: int = 6, items_per_group: int = 8, seed: int = 7):
    """Two groups of users and two groups of films: each group loves its own films (4.5-5) and dislikes
    the other's (1-1.5). Returns (item ids by group, user ids by group, every rating as (user, item, r))."""
    generator = random.Random(seed)
    titles = {group: [f"{group} film {i}" for i in range(items_per_group)] for group in ("north", "south")}
    movies = [
        movie_row(1000 * (g + 1) + i, title, theme=g)
        for g, group in enumerate(("north", "south"))
        for i, title in enumerate(titles[group])
    ]
    ids = load_catalog(db, movies)
    items = {group: [ids[title] for title in titles[group]] for group in titles}
    users = {
        group: list(create_users(db, *(f"{group}{u}" for u in range(users_per_group))).values())
        for group in ("north", "south")
    }
    ratings = []
    for group, other in (("north", "south"), ("south", "north")):
        for user in users[group]:
            for item in items[group]:
                ratings.append((user, item, generator.choice([4.5, 5.0])))
            for item in items[other]:
                ratings.append((user, item, generator.choice([1.0, 1.5])))
    return items, users, ratings


def planted_groups_world(
    db, *, groups: int = 3, items_per_group: int = 5, users_per_group: int = 8, seed: int = 11
):
    """A planted item-to-item structure: users of group g love (4.5-5) each of group g's films with
    probability 0.7 (at least two of them) and dislike (1-2) a few others, so every item's true neighbours
    are the rest of its group. The films of one group share no embedding theme with each other (each has
    its own), so only ratings reveal the groups.
    Returns (item ids by group, user ids by group, every rating as (user, item, r))."""
    generator = random.Random(seed)
    names = [f"group{g}" for g in range(groups)]
    titles = {name: [f"{name} title {i}" for i in range(items_per_group)] for name in names}
    movies = [
        movie_row(5000 + 100 * g + i, title, theme=10 + g * items_per_group + i)
        for g, name in enumerate(names)
        for i, title in enumerate(titles[name])
    ]
    ids = load_catalog(db, movies)
    items = {name: [ids[title] for title in titles[name]] for name in names}
    users = {
        name: list(create_users(db, *(f"{name}u{u}" for u in range(users_per_group))).values()) for name in names
    }
    others = {name: [item for other in names if other != name for item in items[other]] for name in names}
    ratings = []
    for name in names:
        for user in users[name]:
            liked = [item for item in items[name] if generator.random() < 0.7]
            if len(liked) < 2:
                liked = generator.sample(items[name], 2)
            ratings += [(user, item, generator.choice([4.5, 5.0])) for item in liked]
            ratings += [(user, item, generator.choice([1.0, 1.5, 2.0])) for item in generator.sample(others[name], 2)]
    return items, users, ratings


def rate_all(db, ratings) -> None:
    for user, item, value in ratings:
        db.upsert_rating(user_id=user, item_id=item, rating=value)
