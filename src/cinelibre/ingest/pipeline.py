"""The ingest pipeline: page by page, embed only what is new or changed, upsert once per page, checkpoint
after every page, and stop cleanly before the deadline so the next run resumes where this one stopped.

A run per source is recorded in the database (start, checkpoint after each page, finish with its counters).
A page or an item that fails is counted and skipped; an upsert is one statement, so a failure never leaves a
page half written. Credentials refused, the database or the model unavailable: the source's run ends
`failed` with the reason, keeping the last checkpoint.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from cinelibre.db.port import Database, Row
from cinelibre.embedding import content_hash
from cinelibre.errors import (
    CineLibreError,
    ConflictError,
    DatabaseError,
    DatabaseUnavailableError,
    UpstreamAuthError,
    UpstreamError,
    ValidationError,
)
from cinelibre.ingest.base import CatalogSource, Checkpoint, SourcePage
from cinelibre.ingest.google_books import GoogleBooksSource
from cinelibre.ingest.http import UpstreamRateLimitedError
from cinelibre.ingest.tmdb import TmdbSource
from cinelibre.observability import logger
from cinelibre.settings import Settings

SourceFactory = Callable[[Callable[[], float]], CatalogSource]
RunStatus = Literal["succeeded", "partial", "failed"]
StopReason = Literal["deadline", "limit", "rate_limited", "upstream_failures"]
# After this many pages in a row fail, the source is down rather than flaky: stop and retry those pages later.
MAX_CONSECUTIVE_PAGE_FAILURES = 3


class Deadline:
    """Seconds left before the caller must have saved its work: the Lambda's remaining time less a margin
    (kept for the last embedding batch, the upsert and the run record). Without a clock: no deadline."""

    def __init__(self, remaining_s: Callable[[], float] | None = None, *, margin_s: float = 0.0) -> None:
        self._remaining_s = remaining_s
        self._margin_s = margin_s

    @classmethod
    def from_lambda_context(cls, context: Any, *, margin_s: float) -> Deadline:
        return cls(lambda: context.get_remaining_time_in_millis() / 1000.0, margin_s=margin_s)

    def seconds_left(self) -> float:
        if self._remaining_s is None:
            return math.inf
        return self._remaining_s() - self._margin_s

    def expired(self) -> bool:
        return self.seconds_left() <= 0

    def keeping(self, seconds: float) -> Deadline:
        """A deadline that ends `seconds` earlier: the time kept back for the sources that run after."""
        if self._remaining_s is None or seconds <= 0:
            return self
        return Deadline(self._remaining_s, margin_s=self._margin_s + seconds)


@dataclass
class SourceStats:
    fetched: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    duplicates: int = 0
    embedded: int = 0
    pages: int = 0
    failed_pages: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class SourceRun:
    source: str
    run_id: int | None
    status: RunStatus
    stats: SourceStats
    checkpoint: Checkpoint | None
    stopped_by: StopReason | None = None
    error: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "stopped_by": self.stopped_by,
            "error": self.error,
            "checkpoint": self.checkpoint,
            "seconds": round(self.seconds, 3),
            "stats": self.stats.as_dict(),
        }


@dataclass
class IngestSummary:
    trigger: str
    dry_run: bool
    runs: list[SourceRun] = field(default_factory=list)

    @property
    def status(self) -> RunStatus:
        statuses = {run.status for run in self.runs}
        if statuses == {"succeeded"}:
            return "succeeded"
        if statuses == {"failed"}:
            return "failed"
        return "partial"

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "trigger": self.trigger,
            "dry_run": self.dry_run,
            "sources": {run.source: run.as_dict() for run in self.runs},
        }


class PassageEmbedder(Protocol):
    """What the pipeline uses of `cinelibre.embedding.Embedder`."""

    def embed_passages(self, texts: Iterable[str]) -> Iterator[list[float]]: ...


@dataclass
class _PageOutcome:
    processed: int
    finished: bool  # False: interrupted (deadline, limit or rate limit mid-page); redo the page next time
    rate_limited: bool = False


class IngestPipeline:
    def __init__(
        self,
        *,
        database: Database,
        embedder: PassageEmbedder,
        sources: Mapping[str, SourceFactory],
        max_consecutive_page_failures: int = MAX_CONSECUTIVE_PAGE_FAILURES,
    ) -> None:
        self.database = database
        self.embedder = embedder
        self.sources = dict(sources)
        self.max_consecutive_page_failures = max_consecutive_page_failures

    def run(
        self,
        *,
        sources: Sequence[str],
        trigger: str,
        deadline: Deadline | None = None,
        limit: int | None = None,
        dry_run: bool = False,
        on_progress: Callable[[str, int], None] | None = None,
    ) -> IngestSummary:
        """Run each named source in turn. Each gets an equal share of the time left, so the first cannot
        starve the others on a short deadline; `limit` caps the items examined per source."""
        unknown = [name for name in sources if name not in self.sources]
        if not sources:
            raise ValidationError(f"name at least one ingest source: {sorted(self.sources)}")
        if unknown:
            raise ValidationError(f"unknown ingest source(s) {unknown}; known: {sorted(self.sources)}")
        if limit is not None and limit < 1:
            raise ValidationError("limit must be at least 1")
        deadline = deadline or Deadline()
        summary = IngestSummary(trigger=trigger, dry_run=dry_run)
        for position, name in enumerate(sources):
            still_to_run = len(sources) - position - 1
            left = deadline.seconds_left()
            share = (
                deadline.keeping(left * still_to_run / (still_to_run + 1))
                if math.isfinite(left)
                else deadline
            )
            summary.runs.append(
                self._run_source(
                    name,
                    trigger=trigger,
                    deadline=share,
                    limit=limit,
                    dry_run=dry_run,
                    on_progress=on_progress,
                )
            )
        return summary

    # -- one source -----------------------------------------------------------------------------------------
    def _run_source(
        self,
        name: str,
        *,
        trigger: str,
        deadline: Deadline,
        limit: int | None,
        dry_run: bool,
        on_progress: Callable[[str, int], None] | None,
    ) -> SourceRun:
        started = time.monotonic()
        run = SourceRun(source=name, run_id=None, status="failed", stats=SourceStats(), checkpoint=None)
        if not dry_run:
            record = self.database.start_ingest_run(source=name, trigger=trigger)
            run.run_id = record["id"]
            run.checkpoint = record.get("checkpoint")
        logger.info(
            "ingest run started",
            extra={"source": name, "run_id": run.run_id, "resume_from": run.checkpoint, "dry_run": dry_run},
        )
        try:
            source = self.sources[name](deadline.seconds_left)
            try:
                self._crawl(
                    source, run, deadline=deadline, limit=limit, dry_run=dry_run, on_progress=on_progress
                )
            finally:
                source.close()
        except CineLibreError as exc:
            run.status, run.error = "failed", exc.message
            logger.error(
                "ingest run failed",
                extra={"source": name, "run_id": run.run_id, "code": exc.code, "reason": exc.message},
            )
        except Exception:
            run.status, run.error = "failed", "unexpected error (see the function's log)"
            logger.exception("ingest run failed unexpectedly", extra={"source": name, "run_id": run.run_id})
            self._finish(run, started, dry_run)
            raise
        self._finish(run, started, dry_run)
        return run

    def _finish(self, run: SourceRun, started: float, dry_run: bool) -> None:
        run.seconds = time.monotonic() - started
        if not dry_run and run.run_id is not None:
            try:
                self.database.finish_ingest_run(
                    run_id=run.run_id,
                    status=run.status,
                    stats=run.stats.as_dict(),
                    checkpoint=run.checkpoint,
                    error=run.error,
                )
            except CineLibreError as exc:
                # The catalog rows and the last checkpoint are already stored; only the run record is stale.
                logger.error(
                    "could not record the end of the ingest run",
                    extra={"source": run.source, "run_id": run.run_id, "reason": exc.message},
                )
        logger.info("ingest run finished", extra={"source": run.source, **run.as_dict()})

    def _crawl(
        self,
        source: CatalogSource,
        run: SourceRun,
        *,
        deadline: Deadline,
        limit: int | None,
        dry_run: bool,
        on_progress: Callable[[str, int], None] | None,
    ) -> None:
        stats = run.stats
        pages = source.pages(run.checkpoint)
        try:
            self._walk(
                source, run, pages, deadline=deadline, limit=limit, dry_run=dry_run, on_progress=on_progress
            )
        finally:
            pages.close()
        if run.stopped_by is None and stats.failed == 0 and stats.failed_pages == 0:
            run.status = "succeeded"
        else:
            run.status = "partial"

    def _walk(
        self,
        source: CatalogSource,
        run: SourceRun,
        pages: Generator[SourcePage],
        *,
        deadline: Deadline,
        limit: int | None,
        dry_run: bool,
        on_progress: Callable[[str, int], None] | None,
    ) -> None:
        stats = run.stats
        seen: set[str] = set()
        longest_page_s = 0.0
        failure_streak: list[Checkpoint] = []
        while True:
            if deadline.seconds_left() <= longest_page_s:
                run.stopped_by = "deadline"
                break
            if limit is not None and stats.fetched >= limit:
                run.stopped_by = "limit"
                break
            page_started_left = deadline.seconds_left()
            page_started = time.monotonic()
            try:
                page = next(pages)
            except StopIteration:
                run.checkpoint = None  # the whole plan is done; the next run starts a new cycle
                break
            except UpstreamRateLimitedError as exc:
                run.stopped_by, run.error = "rate_limited", exc.message
                break
            if page.error is not None:
                stats.failed_pages += 1
                logger.warning(
                    "ingest page failed; skipped",
                    extra={"source": run.source, "page": page.label, "reason": page.error.message},
                )
                failure_streak.append(page.position)
                if len(failure_streak) >= self.max_consecutive_page_failures:
                    run.stopped_by, run.error = "upstream_failures", page.error.message
                    run.checkpoint = failure_streak[0]
                    self._save_checkpoint(run, dry_run)
                    break
                run.checkpoint = page.next_position
                self._save_checkpoint(run, dry_run)
                continue
            failure_streak.clear()
            outcome = self._ingest_page(
                source, page, stats, seen=seen, deadline=deadline, limit=limit, dry_run=dry_run
            )
            run.checkpoint = page.next_position if outcome.finished else page.position
            self._save_checkpoint(run, dry_run)
            if on_progress is not None:
                on_progress(run.source, outcome.processed)
            elapsed = (
                page_started_left - deadline.seconds_left()
                if math.isfinite(page_started_left)
                else time.monotonic() - page_started
            )
            longest_page_s = max(longest_page_s, elapsed)
            if outcome.rate_limited:
                run.stopped_by = "rate_limited"
                break

    def _ingest_page(
        self,
        source: CatalogSource,
        page: SourcePage,
        stats: SourceStats,
        *,
        seen: set[str],
        deadline: Deadline,
        limit: int | None,
        dry_run: bool,
    ) -> _PageOutcome:
        stats.pages += 1
        # Entries without an id or a title: seen, and failed.
        stats.fetched += page.incomplete
        stats.failed += page.incomplete
        fresh_rows: list[Row] = []
        for row in page.rows:
            keys = source.identity_keys(row)
            if any(key in seen for key in keys):
                stats.duplicates += 1
                continue
            seen.update(keys)
            fresh_rows.append(row)
        finished = True
        if limit is not None and stats.fetched + len(fresh_rows) > limit:
            fresh_rows = fresh_rows[: limit - stats.fetched]
            finished = False
        stored = (
            self.database.get_content_hashes(
                source=source.name, external_ids=[str(row[source.key_field]) for row in fresh_rows]
            )
            if fresh_rows
            else {}
        )

        to_embed: list[tuple[Row, str]] = []
        to_refresh: list[Row] = []
        rate_limited = False
        processed = 0
        for row in fresh_rows:
            external_id = str(row[source.key_field])
            stored_hash = stored.get(external_id)
            text = source.embedding_text(row)
            text_hash = content_hash(text)
            if stored_hash != text_hash and source.needs_completion:
                if deadline.expired():
                    finished = False
                    break
                try:
                    row = source.complete(row)
                except UpstreamRateLimitedError:
                    finished, rate_limited = False, True
                    break
                except UpstreamAuthError:
                    raise
                except UpstreamError as exc:
                    stats.fetched += 1
                    stats.failed += 1
                    processed += 1
                    logger.warning(
                        "ingest item failed; skipped",
                        extra={"source": source.name, "id": external_id, "reason": exc.message},
                    )
                    continue
                text = source.embedding_text(row)
                text_hash = content_hash(text)
            stats.fetched += 1
            processed += 1
            row["content_hash"] = text_hash
            if stored_hash == text_hash:
                to_refresh.append({**row, "embedding": None})
            elif dry_run:
                if stored_hash is None:
                    stats.new += 1
                else:
                    stats.updated += 1
            else:
                to_embed.append((row, text))

        if dry_run:
            stats.unchanged += len(to_refresh)
            return _PageOutcome(processed, finished, rate_limited)
        if to_embed:
            vectors = self.embedder.embed_passages([text for _, text in to_embed])
            for (row, _), vector in zip(to_embed, vectors, strict=True):
                row["embedding"] = vector
            stats.embedded += len(to_embed)
        if to_embed:
            self._upsert(source, source.upsert, [row for row, _ in to_embed], stats)
        if to_refresh:
            self._upsert(source, source.refresh, to_refresh, stats)
        return _PageOutcome(processed, finished, rate_limited)

    def _upsert(
        self, source: CatalogSource, write: Callable[[Any, list[Row]], dict[str, int]], rows: list[Row],
        stats: SourceStats,
    ) -> None:
        """One statement per page. If the database refuses the batch, find the row it refuses: the others
        are written one by one and only the refused ones count as failed."""
        try:
            counts = write(self.database, rows)
        except DatabaseUnavailableError:
            raise
        except (ValidationError, ConflictError, DatabaseError) as exc:
            logger.warning(
                "batch upsert refused; writing the page row by row",
                extra={"source": source.name, "reason": exc.message},
            )
            counts = {"inserted": 0, "updated": 0, "unchanged": 0}
            for row in rows:
                try:
                    single = write(self.database, [row])
                except DatabaseUnavailableError:
                    raise
                except (ValidationError, ConflictError, DatabaseError) as row_exc:
                    stats.failed += 1
                    logger.warning(
                        "row refused by the database; skipped",
                        extra={
                            "source": source.name,
                            "id": row.get(source.key_field),
                            "reason": row_exc.message,
                        },
                    )
                    continue
                for key in counts:
                    counts[key] += single.get(key, 0)
        stats.new += counts.get("inserted", 0)
        stats.updated += counts.get("updated", 0)
        stats.unchanged += counts.get("unchanged", 0)

    def _save_checkpoint(self, run: SourceRun, dry_run: bool) -> None:
        if dry_run or run.run_id is None:
            return
        self.database.save_ingest_checkpoint(
            run_id=run.run_id, source=run.source, checkpoint=run.checkpoint, stats=run.stats.as_dict()
        )


SOURCE_NAMES: tuple[str, ...] = ("tmdb", "google_books")


def build_pipeline(
    settings: Settings,
    database: Database,
    embedder: PassageEmbedder,
    *,
    tmdb_options: Mapping[str, Any] | None = None,
    books_options: Mapping[str, Any] | None = None,
) -> IngestPipeline:
    """The pipeline over both sources as the settings describe them (base URLs, keys, rates, languages).
    The options reach each source's `from_settings` (subjects, pages per slice, retry policy, sleep)."""

    def tmdb(seconds_left: Callable[[], float]) -> CatalogSource:
        return TmdbSource.from_settings(settings, seconds_left=seconds_left, **(tmdb_options or {}))

    def google_books(seconds_left: Callable[[], float]) -> CatalogSource:
        return GoogleBooksSource.from_settings(settings, seconds_left=seconds_left, **(books_options or {}))

    return IngestPipeline(
        database=database, embedder=embedder, sources={"tmdb": tmdb, "google_books": google_books}
    )
