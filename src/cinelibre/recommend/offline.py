"""Offline evaluation of the recommendations as served, from rating files: what `cinelibre evaluate` runs.

The training ratings go into a throwaway embedded PostgreSQL (a fresh server in a temporary directory,
never the configured database), the model is trained and published exactly as the training job does it,
and each test user's list comes from `service.personalized`, the code behind
`/recommendations/personalized`. Ids in the files are arbitrary text; the database gets its own ids and the
results are mapped back, so the lists written out name items and users as the files do.

Files (CSV, UTF-8, a header row naming the columns; MovieLens' `userId`/`movieId` headers are accepted):
ratings `user_id,item_id,rating[,timestamp]` (timestamp in seconds since the epoch or ISO 8601), items
`item_id,title[,year][,genres][,overview]` (genres separated by `|`). A malformed file is refused with the
line number and what is wrong with it.

With an items file and an embedder, every item's text (`embedding.movie_text`, the recipe ingest embeds) is
embedded with the real model into the throwaway catalog, so the content-based parts of the served path (the
new-release slot, the content fallback) run as they do in production. An embedding cache file (vectors keyed by
`embedding.content_hash`, i.e. model id and text) spares a second run the minutes of embedding.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import math
import os
import re
import tempfile
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import psycopg
from psycopg.conninfo import make_conninfo

from cinelibre.errors import ValidationError
from cinelibre.recommend.evaluation import (
    RELEVANT_RATING,
    MeanFallback,
    RankingReport,
    RatingAccuracy,
    RatingRecord,
    ranking_metrics,
    rating_accuracy,
    train_test_split,
)

if TYPE_CHECKING:
    from cinelibre.ingest.pipeline import PassageEmbedder

MAX_TITLE = 500
MAX_NAME = 200
# Never checked: evaluation users log in nowhere. The users table insists on a bcrypt-shaped value.
UNUSABLE_PASSWORD_HASH = "$2b$10$" + "evaluation.user.without.password.".ljust(53, ".")
# Progress: (step, done, total), as the training job reports it.
Progress = Callable[[str, int, int], None]


class CsvFormatError(ValidationError):
    """A rating or item file the evaluation cannot trust; the message names the file, line and problem."""

    def __init__(self, path: Path | str, line: int, problem: str) -> None:
        super().__init__(f"{path}:{line}: {problem}", details={"path": str(path), "line": line})
        self.path = str(path)
        self.line = line


# -- reading and writing the files ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    item_id: str
    title: str
    year: int | None = None
    genres: tuple[str, ...] = ()
    overview: str | None = None


RATING_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
ITEM_COLUMNS = ("item_id", "title", "year", "genres", "overview")
_ALIASES = {
    "userid": "user_id",
    "user": "user_id",
    "itemid": "item_id",
    "item": "item_id",
    "movieid": "item_id",
    "bookid": "item_id",
    "description": "overview",
}
# MovieLens writes this where a film has no genre.
_NO_GENRES = "(no genres listed)"


def _column_name(raw: str) -> str:
    name = raw.strip().lower().lstrip("\ufeff")
    return _ALIASES.get(name.replace("_", ""), name)


def _read_header(reader: Any, path: Path, allowed: Sequence[str], required: Sequence[str]) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise CsvFormatError(path, 1, "the file is empty; expected a header row: " + ",".join(allowed)) from None
    columns = [_column_name(raw) for raw in header]
    optional = "".join(f"[,{name}]" for name in allowed if name not in required)
    expected = f"expected a header row naming the columns {','.join(required)}{optional}"
    if re.fullmatch(r"[\d.,\s-]*", ",".join(header)):
        raise CsvFormatError(path, 1, f"{expected}, not data ({','.join(header)!r})")
    for name in columns:
        if name not in allowed:
            raise CsvFormatError(path, 1, f"unknown column {name!r}; {expected}")
        if columns.count(name) > 1:
            raise CsvFormatError(path, 1, f"column {name!r} appears twice")
    missing = [name for name in required if name not in columns]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise CsvFormatError(path, 1, f"missing column{plural} {', '.join(missing)}; {expected}")
    return columns


def _rows(handle: TextIO, path: Path, columns: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.reader(handle, strict=True)
    # The header was read from the same handle by another reader: line numbers continue from 1.
    line = 1
    try:
        for fields in reader:
            line = reader.line_num + 1
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                raise CsvFormatError(path, line, "empty line")
            if len(fields) != len(columns):
                raise CsvFormatError(
                    path, line, f"{len(fields)} field{'s' if len(fields) != 1 else ''} where the header names "
                    f"{len(columns)} ({','.join(columns)})"
                )
            yield line, dict(zip(columns, fields, strict=True))
    except csv.Error as exc:
        raise CsvFormatError(path, reader.line_num + 1, f"not valid CSV ({exc})") from None


def _open(path: Path) -> TextIO:
    try:
        return path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror or exc}") from None


def _identifier(value: str, path: Path, line: int, column: str) -> str:
    text = value.strip()
    if not text:
        raise CsvFormatError(path, line, f"{column} is empty")
    if len(text) > MAX_NAME:
        raise CsvFormatError(path, line, f"{column} is longer than {MAX_NAME} characters")
    return text


def _rating(value: str, path: Path, line: int) -> float:
    try:
        rating = float(value)
    except ValueError:
        raise CsvFormatError(path, line, f"rating {value.strip()!r} is not a number") from None
    if not math.isfinite(rating) or not 0.5 <= rating <= 5.0 or rating * 2 != int(rating * 2):
        raise CsvFormatError(path, line, f"rating {value.strip()} is not 0.5 to 5.0 in steps of 0.5")
    return rating


def _timestamp(value: str, path: Path, line: int) -> float:
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise CsvFormatError(
                path, line, f"timestamp {text!r} is neither seconds since the epoch nor an ISO 8601 date"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        seconds = moment.timestamp()
    if not math.isfinite(seconds) or not 0 <= seconds < 4_102_444_800:  # before 2100
        raise CsvFormatError(path, line, f"timestamp {text} is out of range")
    return seconds


def read_ratings(path: Path | str) -> list[RatingRecord]:
    """Every rating in the file, ids kept as the text the file gives; refuses a malformed file."""
    path = Path(path)
    with _open(path) as handle:
        columns = _read_header(csv.reader(io.StringIO(handle.readline())), path, RATING_COLUMNS, RATING_COLUMNS[:3])
        records: list[RatingRecord] = []
        first_line: dict[tuple[str, str], int] = {}
        for line, row in _rows(handle, path, columns):
            user_id = _identifier(row["user_id"], path, line, "user_id")
            item_id = _identifier(row["item_id"], path, line, "item_id")
            earlier = first_line.setdefault((user_id, item_id), line)
            if earlier != line:
                raise CsvFormatError(
                    path, line, f"user {user_id} rates item {item_id} a second time (first on line {earlier})"
                )
            timestamp = _timestamp(row["timestamp"], path, line) if "timestamp" in row else None
            records.append(RatingRecord(user_id, item_id, _rating(row["rating"], path, line), timestamp))
    if not records:
        raise CsvFormatError(path, 2, "no ratings after the header")
    return records


def read_items(path: Path | str) -> list[CatalogEntry]:
    path = Path(path)
    with _open(path) as handle:
        columns = _read_header(csv.reader(io.StringIO(handle.readline())), path, ITEM_COLUMNS, ITEM_COLUMNS[:2])
        entries: list[CatalogEntry] = []
        first_line: dict[str, int] = {}
        for line, row in _rows(handle, path, columns):
            item_id = _identifier(row["item_id"], path, line, "item_id")
            earlier = first_line.setdefault(item_id, line)
            if earlier != line:
                raise CsvFormatError(path, line, f"item {item_id} appears a second time (first on line {earlier})")
            title = row["title"].strip()
            if not title:
                raise CsvFormatError(path, line, "title is empty")
            if len(title) > MAX_TITLE:
                raise CsvFormatError(path, line, f"title is longer than {MAX_TITLE} characters")
            year = None
            if row.get("year", "").strip():
                text = row["year"].strip()
                if not re.fullmatch(r"\d{4}", text) or not 1870 <= int(text) <= 2100:
                    raise CsvFormatError(path, line, f"year {text!r} is not a year from 1870 to 2100")
                year = int(text)
            genres = tuple(
                genre.strip() for genre in row.get("genres", "").split("|") if genre.strip() not in ("", _NO_GENRES)
            )
            overview = row.get("overview", "").strip() or None
            entries.append(CatalogEntry(item_id, title, year, genres, overview))
    if not entries:
        raise CsvFormatError(path, 2, "no items after the header")
    return entries


def write_ratings(path: Path | str, records: Iterable[RatingRecord]) -> None:
    """The canonical header; a timestamp column when the records have timestamps."""
    records = list(records)
    with_time = any(record.timestamp is not None for record in records)
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(RATING_COLUMNS if with_time else RATING_COLUMNS[:3])
        for record in records:
            row = [record.user_id, record.item_id, f"{record.rating:g}"]
            if with_time:
                row.append("" if record.timestamp is None else f"{record.timestamp:.0f}")
            writer.writerow(row)


def split_file(ratings_path: Path | str, train_path: Path | str, test_path: Path | str, *, seed: int,
               test_fraction: float = 0.2) -> tuple[list[RatingRecord], list[RatingRecord]]:
    """The per-user random split of a rating file, written out as two files."""
    train, test = train_test_split(read_ratings(ratings_path), test_fraction=test_fraction, seed=seed)
    write_ratings(train_path, train)
    write_ratings(test_path, test)
    return train, test


def json_id(text: Any) -> Any:
    """An id as the file wrote it: a number when it is an integer, else the text."""
    if isinstance(text, str) and re.fullmatch(r"-?(0|[1-9]\d{0,17})", text):
        return int(text)
    return text


# -- embedding the catalog ----------------------------------------------------------------------------------

# Texts per call to the embedder: the progress bar moves and the cache is saved this often.
EMBED_CHUNK = 256


def item_text(entry: CatalogEntry) -> str:
    """The text ingest embeds for this film (`movie_text`: "Title (Year). Genre, genre. Overview")."""
    from cinelibre.embedding import movie_text

    return movie_text({"title": entry.title, "year": entry.year, "genres": list(entry.genres),
                       "overview": entry.overview})


class EmbeddingCache:
    """Vectors by content hash (model id and text: `embedding.content_hash`) in one .npz file of `hashes` and
    `vectors`, so a second evaluation of the same catalog embeds nothing. Written through a temporary file and
    renamed: an interrupted run leaves the previous cache or the new one, never half of one."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._vectors: dict[str, list[float]] = {}
        self._unsaved = 0
        if self.path.exists():
            self._read()

    def _read(self) -> None:
        import zipfile

        import numpy as np

        from cinelibre.embedding import EMBEDDING_DIMENSION

        try:
            with np.load(self.path, allow_pickle=False) as data:
                hashes, vectors = data["hashes"], data["vectors"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ValidationError(
                f"{self.path} is not an embedding cache written by cinelibre evaluate ({exc})"
            ) from None
        if hashes.ndim != 1 or vectors.shape != (len(hashes), EMBEDDING_DIMENSION):
            raise ValidationError(
                f"{self.path} holds {vectors.shape} vectors for {hashes.shape} hashes; expected one "
                f"{EMBEDDING_DIMENSION}-d vector per hash"
            )
        self._vectors = {str(key): vector.tolist() for key, vector in zip(hashes, vectors, strict=True)}

    def __len__(self) -> int:
        return len(self._vectors)

    def get(self, key: str) -> list[float] | None:
        return self._vectors.get(key)

    def put(self, key: str, vector: Sequence[float]) -> None:
        self._vectors[key] = list(vector)
        self._unsaved += 1

    def save(self) -> None:
        if not self._unsaved:
            return
        import numpy as np

        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        with partial.open("wb") as handle:
            np.savez(handle, hashes=np.array(list(self._vectors), dtype=str),
                     vectors=np.array(list(self._vectors.values()), dtype=np.float32))
        os.replace(partial, self.path)
        self._unsaved = 0


@dataclass(frozen=True, slots=True)
class EmbeddedCatalog:
    """Each item's content hash and vector, and how many texts were embedded now or found in the cache."""

    vectors: dict[str, tuple[str, list[float]]]
    embedded: int
    from_cache: int


def embed_items(
    items: Sequence[CatalogEntry],
    embedder: PassageEmbedder,
    *,
    cache: EmbeddingCache | None = None,
    progress: Progress | None = None,
) -> EmbeddedCatalog:
    """Every item's vector from its ingest text; one embedding per distinct text, the cache's where it has it.
    Texts go to the model shortest first, as ingest sends them (a batch is padded to its longest text)."""
    from itertools import batched

    from cinelibre.embedding import content_hash

    hashes: dict[str, str] = {}
    wanted: dict[str, str] = {}
    found: dict[str, list[float]] = {}
    for entry in items:
        text = item_text(entry)
        key = hashes[entry.item_id] = content_hash(text)
        if key in found or key in wanted:
            continue
        cached = cache.get(key) if cache is not None else None
        if cached is not None:
            found[key] = cached
        else:
            wanted[key] = text
    from_cache = len(found)
    pending = sorted(wanted.items(), key=lambda pair: (len(pair[1]), pair[0]))
    done = 0
    if progress is not None:
        progress("embedding", 0, len(pending))
    try:
        for chunk in batched(pending, EMBED_CHUNK, strict=False):
            vectors = embedder.embed_passages([text for _, text in chunk])
            for (key, _), vector in zip(chunk, vectors, strict=True):
                found[key] = vector
                if cache is not None:
                    cache.put(key, vector)
            done += len(chunk)
            if progress is not None:
                progress("embedding", done, len(pending))
    finally:
        # What was embedded before a failure or an interruption is kept for the next run.
        if cache is not None:
            cache.save()
    return EmbeddedCatalog(
        vectors={item: (key, found[key]) for item, key in hashes.items()},
        embedded=len(pending),
        from_cache=from_cache,
    )


# -- the throwaway database ---------------------------------------------------------------------------------


@contextlib.contextmanager
def throwaway_server() -> Iterator[str]:
    """A fresh embedded PostgreSQL in a temporary directory (stopped and deleted afterwards): the URL of its
    empty `cinelibre` database. It never reads the settings, so the configured database is never touched."""
    from cinelibre.db import embedded

    with tempfile.TemporaryDirectory(prefix="cinelibre-evaluate-") as directory:
        data_dir = Path(directory)
        try:
            yield embedded.start(data_dir)
        finally:
            embedded.stop(data_dir)


def fresh_database(server_url: str, name: str) -> str:
    """A new, migrated database `name` on the server (dropped first if it exists): its URL."""
    from cinelibre.db import migrate

    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"not a plain database name: {name!r}")
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")
        conn.execute(f"create database {name}")
    url = make_conninfo(server_url, dbname=name)
    migrate.apply_migrations(url)
    return url


@dataclass
class LoadedData:
    """What went into the database, and how its ids map to the files' ids."""

    item_db_id: dict[str, int]
    user_db_id: dict[str, str]
    catalog_size: int

    @property
    def item_file_id(self) -> dict[int, str]:
        return {db_id: file_id for file_id, db_id in self.item_db_id.items()}


def load(url: str, items: Sequence[CatalogEntry], train: Sequence[RatingRecord],
         test: Sequence[RatingRecord] = (), *, embedded: EmbeddedCatalog | None = None) -> LoadedData:
    """Bulk-load the catalog (with its embeddings when `embedded` has them), a user row for everyone in either
    file, and the training ratings (COPY: the one-row RPCs would take minutes for MovieLens). Items get ids
    1..n in file order. Refuses ratings of items the catalog lacks; without a catalog, every item rated in
    either file gets a placeholder title."""
    from cinelibre.db.postgres import vector_literal

    if not items:
        seen = dict.fromkeys(record.item_id for record in (*train, *test))
        items = [CatalogEntry(item_id, f"Item {item_id}") for item_id in seen]
    else:
        known = {entry.item_id for entry in items}
        for name, records in (("training", train), ("test", test)):
            unknown = next((record for record in records if record.item_id not in known), None)
            if unknown is not None:
                raise ValidationError(f"the {name} ratings name item {unknown.item_id}, which the items file lacks")
    item_db_id = {entry.item_id: number for number, entry in enumerate(items, start=1)}
    user_ids = dict.fromkeys(record.user_id for record in (*train, *test))
    # Stable ids for a file's users, so two runs on one file name the same database users.
    user_db_id = {user: str(uuid.uuid5(uuid.NAMESPACE_URL, f"cinelibre-evaluate:{user}")) for user in user_ids}
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("copy public.items (id, item_type) from stdin") as copy:
            for number in item_db_id.values():
                copy.write_row((number, "movie"))
        cur.execute("select setval(pg_get_serial_sequence('public.items', 'id'), %s)", (len(items),))
        vectors = embedded.vectors if embedded is not None else {}
        with cur.copy(
            "copy public.movies (item_id, tmdb_id, title, original_title, overview, release_year, genres,"
            " content_hash, embedding) from stdin"
        ) as copy:
            for entry in items:
                number = item_db_id[entry.item_id]
                key, vector = vectors.get(entry.item_id, (f"evaluate-{number}", None))
                copy.write_row((number, number, entry.title, entry.title, entry.overview, entry.year,
                                list(entry.genres), key, None if vector is None else vector_literal(vector)))
        with cur.copy("copy public.users (id, email, password_hash, name) from stdin") as copy:
            for number, (user, db_id) in enumerate(user_db_id.items(), start=1):
                copy.write_row((db_id, f"user{number}@evaluate.invalid", UNUSABLE_PASSWORD_HASH,
                                f"user {user}"[:MAX_NAME]))
        # Row by row, the per-item stats trigger (a row lock and an upsert per rating) and the two foreign key
        # checks are most of a MovieLens load (26 s of 29). The ids above are ours and consistent by
        # construction, so the ratings skip the triggers and the stats come from one aggregate, unless the
        # schema has grown a trigger this code does not know to replay.
        unknown_triggers = cur.execute(
            "select tgname from pg_trigger where tgrelid = 'public.ratings'::regclass and not tgisinternal"
            " and tgname <> 'ratings_track_item_stats'"
        ).fetchall()
        if not unknown_triggers:
            cur.execute("set local session_replication_role = replica")
        with cur.copy("copy public.ratings (user_id, item_id, rating, created_at, updated_at) from stdin") as copy:
            for record in train:
                moment = now if record.timestamp is None else dt.datetime.fromtimestamp(record.timestamp, dt.UTC)
                copy.write_row((user_db_id[record.user_id], item_db_id[record.item_id], record.rating, moment,
                                moment))
        if not unknown_triggers:
            cur.execute("set local session_replication_role = origin")
            cur.execute(
                "insert into public.item_rating_stats (item_id, rating_count, rating_sum)"
                " select item_id, count(*), sum(rating) from public.ratings group by item_id"
            )
        cur.execute("analyze")
        conn.commit()
    return LoadedData(item_db_id=item_db_id, user_db_id=user_db_id, catalog_size=len(items))


# -- baselines computed in Python on the same split ---------------------------------------------------------


def most_rated(train: Sequence[RatingRecord], users: Iterable[Any], k: int) -> dict[Any, list[Any]]:
    """Most-rated popularity: the items with the most training ratings, each user's own rated ones left out;
    ties by item id (as text) so the list is deterministic."""
    counts = Counter(record.item_id for record in train)
    ranked = sorted(counts, key=lambda item: (-counts[item], str(item)))
    seen: dict[Any, set] = defaultdict(set)
    for record in train:
        seen[record.user_id].add(record.item_id)
    lists = {}
    for user in users:
        rated = seen.get(user, set())
        picked = []
        for item in ranked:
            if item not in rated:
                picked.append(item)
                if len(picked) == k:
                    break
        lists[user] = picked
    return lists


# -- the evaluation -----------------------------------------------------------------------------------------


@dataclass
class UserList:
    user_id: Any
    method: str
    # As written out: ids as the files give them (numbers when they are integers).
    items: list[dict[str, Any]]
    # The same items' ids as text, as the test ratings hold them.
    file_item_ids: list[str]


@dataclass
class OfflineResult:
    k: int
    train_ratings: int
    test_ratings: int
    catalog_size: int
    served: RankingReport
    popularity: RankingReport
    # Over every held-out pair; the model's own prediction where it made one.
    served_ratings: RatingAccuracy
    user_mean_ratings: RatingAccuracy
    # How many test users each method served (popularity, content_based, the trained model, ...).
    methods: dict[str, int]
    training: Any
    lists: list[UserList] = field(repr=False, default_factory=list)
    # Whether rating predictions covered every held-out pair (the service's predictor) or only the listed items.
    predictions_for_every_pair: bool = False
    # The catalog's embeddings (None: not embedded, so the served path's content-based parts found nothing).
    embedding: EmbeddedCatalog | None = field(repr=False, default=None)
    # The database's ids for the files' users and items, to ask the same database more questions afterwards.
    loaded: LoadedData | None = field(repr=False, default=None)


def _serving_functions() -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any] | None]:
    from cinelibre.recommend import service, training

    return training.train_and_publish, service.personalized, getattr(service, "predicted_ratings", None)


def evaluate_served(
    url: str,
    train: Sequence[RatingRecord],
    test: Sequence[RatingRecord],
    *,
    items: Sequence[CatalogEntry] = (),
    k: int = 10,
    relevant_rating: float = RELEVANT_RATING,
    progress: Progress | None = None,
    training_params: Any = None,
    embedder: PassageEmbedder | None = None,
    embedding_cache: EmbeddingCache | None = None,
    new_item_slots: int | None = None,
    new_item_similarity: float | None = None,
) -> OfflineResult:
    """Load `train` into the empty migrated database at `url`, train and publish the model, and measure the
    served lists (and predicted ratings) of every test user against `test`, beside most-rated popularity.
    With `items` and an `embedder`, the catalog is embedded first (see `embed_items`); without either, the
    items have no embeddings and the content-based parts of the served path recommend nothing.
    `new_item_slots` / `new_item_similarity`: the new-release slot set otherwise than served (None: as served)."""
    from cinelibre.db.postgres import PostgresDatabase

    if not train or not test:
        raise ValidationError("both the training and the test ratings must hold at least one rating")
    train_and_publish, personalized, predict_ratings = _serving_functions()
    if training_params is None:
        from cinelibre.recommend.training import TrainingParams

        # The job's own hold-out metrics would refit the model once more; this evaluation measures it anyway.
        training_params = TrainingParams(validate=False)
    report = lambda step, done, total: progress and progress(step, done, total)  # noqa: E731
    embedded = (
        embed_items(items, embedder, cache=embedding_cache, progress=progress)
        if items and embedder is not None else None
    )
    slot_settings = {name: value for name, value in (("new_item_slots", new_item_slots),
                                                      ("new_item_similarity", new_item_similarity))
                     if value is not None}
    report("loading", 0, 1)
    loaded = load(url, items, train, test, embedded=embedded)
    report("loading", 1, 1)
    # A local tool: training may take minutes, far beyond the service's statement timeout.
    database = PostgresDatabase(url, max_connections=2, statement_timeout_s=3600.0)
    try:
        training_report = train_and_publish(database, params=training_params, progress=progress)
        test_users = list(dict.fromkeys(record.user_id for record in test))
        held_out: dict[Any, list[Any]] = defaultdict(list)
        for record in test:
            held_out[record.user_id].append(record.item_id)
        file_item = loaded.item_file_id
        lists: list[UserList] = []
        predictions: dict[tuple[Any, Any], float | None] = {}
        methods: Counter[str] = Counter()
        for done, user in enumerate(test_users, start=1):
            db_user = loaded.user_db_id[user]
            result = personalized(database, db_user, n=k, **slot_settings)
            methods[result.method] += 1
            entries, file_ids = [], []
            for item in result.recommendations:
                file_id = file_item[item.item_id]
                file_ids.append(file_id)
                entries.append({
                    "item_id": json_id(file_id),
                    "score": item.score,
                    "predicted_rating": item.predicted_rating,
                    "method": item.method,
                })
                if predict_ratings is None:
                    predictions[(user, file_id)] = item.predicted_rating
            if predict_ratings is not None:
                wanted = [loaded.item_db_id[item] for item in held_out[user]]
                for db_item, value in predict_ratings(database, db_user, wanted).items():
                    predictions[(user, file_item[int(db_item)])] = value
            lists.append(UserList(user, result.method, entries, file_ids))
            report("ranking", done, len(test_users))
    finally:
        database.close()

    ranked = {entry.user_id: entry.file_item_ids for entry in lists}
    fallback = MeanFallback(train)
    served = ranking_metrics(ranked, test, k=k, relevant_rating=relevant_rating, catalog_size=loaded.catalog_size)
    popular = ranking_metrics(
        most_rated(train, test_users, k), test, k=k, relevant_rating=relevant_rating,
        catalog_size=loaded.catalog_size,
    )
    return OfflineResult(
        k=k,
        train_ratings=len(train),
        test_ratings=len(test),
        catalog_size=loaded.catalog_size,
        served=served,
        popularity=popular,
        served_ratings=rating_accuracy(lambda u, i: predictions.get((u, i)), test, fallback=fallback),
        user_mean_ratings=rating_accuracy(fallback, test, fallback=fallback),
        methods=dict(methods),
        training=training_report,
        lists=lists,
        predictions_for_every_pair=predict_ratings is not None,
        embedding=embedded,
        loaded=loaded,
    )


def write_lists(path: Path | str, lists: Iterable[UserList]) -> int:
    """One JSON object per line and user: {"user_id", "method", "items": [{"item_id", "score",
    "predicted_rating", "method"}]}, ids as the files give them."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as handle:
        for entry in lists:
            handle.write(json.dumps({"user_id": json_id(entry.user_id), "method": entry.method,
                                     "items": entry.items}) + "\n")
            count += 1
    return count
