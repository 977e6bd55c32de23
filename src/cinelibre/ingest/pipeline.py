"""The ingest pipeline: page by page, embed only what is new or changed, upsert once per page, checkpoint
after every page, and stop cleanly before the deadline so the next run resumes where this one stopped.

A run per source is recorded in the database (start, checkpoint after each page, finish with its counters).
A page or an item that fails is counted and skipped; an upsert is one statement, so a failure never leaves a
page half written. Credentials refused, the database or the model unavailable: the source's run ends
`failed` with the reason, keeping the last checkpoint.
"""

from __future__ import annotations

import json
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_all
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
from cinelibre.ingest.base import KIND_KEYS, CatalogSource, Checkpoint, ItemKind, SourcePage
from cinelibre.ingest.http import UpstreamNotFoundError, UpstreamRateLimitedError, UpstreamUnreachableError
from cinelibre.observability import logger

SourceFactory = Callable[[Callable[[], float]], CatalogSource]
RunStatus = Literal["succeeded", "partial", "failed"]
StopReason = Literal["deadline", "limit", "rate_limited", "upstream_failures", "unreachable"]
# Stops that mean the source would not serve us; with nothing ingested, the run failed.
SOURCE_REFUSED: frozenset[str] = frozenset({"rate_limited", "upstream_failures", "unreachable"})
# After this many pages in a row fail, the source is down rather than flaky: stop and retry those pages later.
MAX_CONSECUTIVE_PAGE_FAILURES = 3
# A lost page or item is tried by this many runs in all; then it is dropped from the retry list (and said so).
MAX_RETRY_ATTEMPTS = 5
# Lost pages and items listed in a run's summary; beyond this only counted.
MAX_LISTED_SKIPS = 50
# A run says it is alive at least this often, even inside a long page (retry sleeps, slow details).
HEARTBEAT_EVERY_S = 60.0
# Pages a source may leave with the writer lane while it fetches its next one. The lane embeds the texts of every
# page waiting (the sources' pages together, up to MAX_TEXTS_PER_PASS) in one pass sorted by length, which pads
# batches far less than a page at a time, and writes a pass while it embeds the next; each page is still written
# by its own statements and checkpointed after they land. One page per source keeps what the run holds between
# pages at one page (more measured no faster within this machine's noise, and held their rows and vectors too).
MAX_PAGES_IN_WRITER = 1
MAX_TEXTS_PER_PASS = 160


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
class Skip:
    """A page or an item this run could not ingest, and whether a later run will try it again."""

    kind: Literal["page", "item"]
    label: str
    reason: str
    retried_later: bool

    def as_dict(self) -> dict[str, Any]:
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
    skipped: list[Skip] = field(default_factory=list)
    skipped_total: int = 0
    retried: int = 0  # pages and items lost by earlier runs and fetched by this one
    abandoned_run_ids: list[int] = field(default_factory=list)

    def skip(self, item: Skip) -> None:
        self.skipped_total += 1
        if len(self.skipped) < MAX_LISTED_SKIPS:
            self.skipped.append(item)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "stopped_by": self.stopped_by,
            "error": self.error,
            "checkpoint": self.checkpoint,
            "seconds": round(self.seconds, 3),
            "stats": self.stats.as_dict(),
            "skipped": [item.as_dict() for item in self.skipped],
            "skipped_total": self.skipped_total,
            "retried": self.retried,
            "abandoned_run_ids": self.abandoned_run_ids,
        }


@dataclass
class IngestSummary:
    trigger: str
    dry_run: bool
    runs: list[SourceRun] = field(default_factory=list)

    @property
    def status(self) -> RunStatus:
        """The worst of the sources' outcomes: one source failing is a failure the operator must see."""
        statuses = {run.status for run in self.runs}
        if "failed" in statuses:
            return "failed"
        if "partial" in statuses:
            return "partial"
        return "succeeded"

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


@dataclass(frozen=True)
class RunOptions:
    """How one run goes: who started it, when it must stop, how much it may examine, whether it writes."""

    trigger: str
    deadline: Deadline = field(default_factory=Deadline)
    limit: int | None = None
    dry_run: bool = False
    on_progress: Callable[[str, int], None] | None = None
    # A `running` run of the same source with no heartbeat for this long died; it is closed as `abandoned`.
    abandon_after_s: float = 960.0
    # Detail requests in flight at once (the source's rate limiter still sets the pace): with a real host's
    # latency, one at a time would leave the rate ceiling unused.
    detail_concurrency: int = 8


@dataclass(frozen=True)
class CatalogWrites:
    """How the pipeline writes one kind of row. `store`: rows with a new embedding (one statement per page).
    `refresh`: rows whose embedding text did not change, sent so figures that may have (votes, ratings) land."""

    store: Callable[[Sequence[Row]], dict[str, int]]
    refresh: Callable[[Sequence[Row]], dict[str, int]]


def catalog_writes(database: Database, kind: ItemKind, *, demo: bool = False) -> CatalogWrites:
    if kind == "movie":
        return CatalogWrites(
            store=lambda rows: database.upsert_movies(movies=rows, demo=demo),
            # A TMDB listing row lacks the credits details added: only its figures are written.
            refresh=lambda rows: database.refresh_movie_figures(movies=rows),
        )
    return CatalogWrites(
        store=lambda rows: database.upsert_books(books=rows, demo=demo),
        # A volume carries everything a book row holds; sent without an embedding, the stored one stays.
        refresh=lambda rows: database.upsert_books(books=rows, demo=demo),
    )


@dataclass
class _WriteJob:
    """One page for the writer: the rows to embed (with their texts), then `write` (its upserts)."""

    to_embed: list[tuple[Row, str]]
    write: Callable[[], _Written]
    done: Future[_Written] = field(default_factory=Future)


class _WriterLane:
    """The threads that embed and write for every source of a run. Embedding is the CPU-heavy step and the
    model runs one batch at a time (on `embed_threads` cores), so a second embedding thread would only add a
    second set of ONNX buffers. The embedding thread embeds every page waiting in one pass, texts sorted by
    length (a batch is padded to its longest text), and hands the pass to the writing thread, which writes it
    page by page while the model goes on with the next pages: the model does not wait for the upserts. Each
    source still leaves at most `MAX_PAGES_IN_WRITER` pages in the lane, so the lane holds no more than before."""

    def __init__(self, embedder: PassageEmbedder) -> None:
        self._embedder = embedder
        self._jobs: queue.SimpleQueue[_WriteJob | None] = queue.SimpleQueue()
        self._embedded: queue.SimpleQueue[list[_WriteJob] | None] = queue.SimpleQueue()
        self._threads: tuple[threading.Thread, threading.Thread] | None = None
        self._start_lock = threading.Lock()

    def submit(self, job: _WriteJob) -> Future[_Written]:
        with self._start_lock:
            if self._threads is None:
                self._threads = (
                    threading.Thread(target=self._embed_passes, name="ingest-embedder", daemon=True),
                    threading.Thread(target=self._write_passes, name="ingest-writer", daemon=True),
                )
                for thread in self._threads:
                    thread.start()
        self._jobs.put(job)
        return job.done

    def close(self) -> None:
        """Finish what was submitted, then stop the threads."""
        with self._start_lock:
            threads, self._threads = self._threads, None
        if threads is not None:
            self._jobs.put(None)
            for thread in threads:
                thread.join()

    def _embed_passes(self) -> None:
        try:
            closing = False
            while not closing:
                job = self._jobs.get()
                if job is None:
                    return
                group, texts, waiting = [job], len(job.to_embed), None
                while texts < MAX_TEXTS_PER_PASS:
                    try:
                        waiting = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if waiting is None:
                        closing = True
                        break
                    group.append(waiting)
                    texts += len(waiting.to_embed)
                if self._embed(group):
                    self._embedded.put(group)
                # The writing thread has the pass now: do not hold it while waiting for the next pages.
                del job, group, waiting
        finally:
            self._embedded.put(None)

    def _embed(self, group: list[_WriteJob]) -> bool:
        pairs = sorted((pair for job in group for pair in job.to_embed), key=lambda pair: len(pair[1]))
        try:
            if pairs:
                vectors = self._embedder.embed_passages([text for _, text in pairs])
                for (row, _), vector in zip(pairs, vectors, strict=True):
                    row["embedding"] = vector
        except BaseException as exc:  # the model failed: every page of the pass fails with it
            for job in group:
                job.done.set_exception(exc)
            return False
        return True

    def _write_passes(self) -> None:
        while (group := self._embedded.get()) is not None:
            for job in group:
                try:
                    job.done.set_result(job.write())
                except BaseException as exc:
                    job.done.set_exception(exc)
            # The pages' rows and vectors are written: do not hold them while waiting for the next pass.
            del group, job


class _DeadlineReached(Exception):
    """A details request not sent because the deadline came first; the page is redone by the next run."""


@dataclass
class _Written:
    """What one page's embedding and upserts did, reported back from the writer thread."""

    counts: dict[str, int] = field(default_factory=lambda: {"new": 0, "updated": 0, "unchanged": 0})
    embedded: int = 0
    failed: int = 0
    skips: list[Skip] = field(default_factory=list)


@dataclass
class _PageOutcome:
    processed: int
    finished: bool  # False: interrupted (deadline, limit or rate limit mid-page); redo the page next time
    stopped_by: StopReason | None = None
    error: str | None = None


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
        trigger: str | None = None,
        deadline: Deadline | None = None,
        limit: int | None = None,
        dry_run: bool = False,
        on_progress: Callable[[str, int], None] | None = None,
        options: RunOptions | None = None,
    ) -> IngestSummary:
        """Run the named sources at the same time, as `options` say (or the keywords, which build them): each
        source waits on its own host's rate limit, so crawling them one after another would leave the other's
        ceiling unused. Every source gets the whole deadline; `limit` caps the items examined per source."""
        if options is None:
            options = RunOptions(
                trigger=trigger or "manual",
                deadline=deadline or Deadline(),
                limit=limit,
                dry_run=dry_run,
                on_progress=on_progress,
            )
        unknown = [name for name in sources if name not in self.sources]
        if not sources:
            raise ValidationError(f"name at least one ingest source: {sorted(self.sources)}")
        if unknown:
            raise ValidationError(f"unknown ingest source(s) {unknown}; known: {sorted(self.sources)}")
        if options.limit is not None and options.limit < 1:
            raise ValidationError("limit must be at least 1")
        summary = IngestSummary(trigger=options.trigger, dry_run=options.dry_run)
        # One lane (one embedding thread, one writing thread) for every source: embedding is the CPU-heavy step
        # and the model runs one batch at a time (on `embed_threads` cores), so a second lane would only add a
        # second set of ONNX buffers.
        writer = _WriterLane(self.embedder)
        try:
            if len(sources) == 1:
                summary.runs.append(self._run_source(sources[0], options, writer))
            else:
                with ThreadPoolExecutor(max_workers=len(sources), thread_name_prefix="ingest-source") as crawls:
                    started = [crawls.submit(self._run_source, name, options, writer) for name in sources]
                    summary.runs.extend(future.result() for future in started)
        finally:
            writer.close()
        return summary

    # -- one source -----------------------------------------------------------------------------------------
    def _run_source(self, name: str, options: RunOptions, writer: _WriterLane) -> SourceRun:
        started = time.monotonic()
        run = SourceRun(source=name, run_id=None, status="failed", stats=SourceStats(), checkpoint=None)
        if not options.dry_run:
            record = self.database.start_ingest_run(
                source=name, trigger=options.trigger, abandon_after_s=options.abandon_after_s
            )
            run.run_id = record["id"]
            run.checkpoint = record.get("checkpoint")
            run.abandoned_run_ids = list(record.get("abandoned_run_ids") or [])
            if run.abandoned_run_ids:
                logger.warning(
                    "closed runs left running by a process that died",
                    extra={"source": name, "abandoned_run_ids": run.abandoned_run_ids},
                )
        logger.info(
            "ingest run started",
            extra={
                "source": name,
                "run_id": run.run_id,
                "resume_from": run.checkpoint,
                "dry_run": options.dry_run,
            },
        )
        crawl = _Crawl(self, run, options, writer)
        try:
            source = self.sources[name](options.deadline.seconds_left)
            try:
                crawl.run(source)
            finally:
                source.close()
            run.status = _outcome(run)
        except CineLibreError as exc:
            run.status, run.error = "failed", exc.message
            logger.error(
                "ingest run failed",
                extra={"source": name, "run_id": run.run_id, "code": exc.code, "reason": exc.message},
            )
        except Exception:
            run.status, run.error = "failed", "unexpected error (see the function's log)"
            logger.exception("ingest run failed unexpectedly", extra={"source": name, "run_id": run.run_id})
            self._finish(run, started, options.dry_run)
            raise
        self._finish(run, started, options.dry_run)
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
                    error=run.error or _skips_note(run),
                )
            except CineLibreError as exc:
                # The catalog rows and the last checkpoint are already stored; only the run record is stale.
                logger.error(
                    "could not record the end of the ingest run",
                    extra={"source": run.source, "run_id": run.run_id, "reason": exc.message},
                )
        log = logger.info if run.status == "succeeded" else logger.warning
        log("ingest run finished", extra={"source": run.source, **run.as_dict()})


def _outcome(run: SourceRun) -> RunStatus:
    """succeeded: nothing lost (a deadline or limit stop only defers the rest to the next run);
    partial: some pages or items were lost (each listed, and retried by later runs) or the source throttled
    the run; failed: the source would not serve the run at all."""
    stats = run.stats
    if run.stopped_by in SOURCE_REFUSED and stats.pages == 0 and run.retried == 0:
        return "failed"
    if run.stopped_by in SOURCE_REFUSED or stats.failed or stats.failed_pages:
        return "partial"
    return "succeeded"


def _skips_note(run: SourceRun) -> str | None:
    if not run.skipped_total:
        return None
    listed = "; ".join(f"{item.label}: {item.reason}" for item in run.skipped[:5])
    more = run.skipped_total - min(5, len(run.skipped))
    return f"skipped {run.skipped_total}: {listed}" + (f" (and {more} more)" if more > 0 else "")


def _retry_key(kind: str, position: Checkpoint) -> str:
    return json.dumps(position, sort_keys=True, separators=(",", ":")) if kind == "page" else str(position["id"])


class _Crawl:
    """One source's run: first the pages and items earlier runs lost, then the plan from the checkpoint."""

    def __init__(
        self, pipeline: IngestPipeline, run: SourceRun, options: RunOptions, writer: _WriterLane
    ) -> None:
        self.pipeline = pipeline
        self.database = pipeline.database
        self.run_ = run
        self.options = options
        self.seen: set[str] = set()
        # Losses this run already recorded (a page the retry pass could not fetch is met again by the walk).
        self.lost: set[tuple[str, str]] = set()
        self._last_beat = time.monotonic()
        # A page's embedding and upserts run in the writer thread while the next page is fetched; its checkpoint
        # is saved once they are done, so a checkpoint never runs ahead of what is stored.
        self._writer = writer
        self._details: ThreadPoolExecutor | None = None
        # Pages handed to the writer, oldest first, with the checkpoint each earns once written.
        self._pending: deque[tuple[Future[_Written], Checkpoint | None]] = deque()

    def run(self, source: CatalogSource) -> None:
        try:
            if not self.options.dry_run:
                self._retry_lost(source)
            if self.run_.stopped_by is not None:
                return
            pages = source.pages(self.run_.checkpoint)
            try:
                self._walk(source, pages)
            finally:
                pages.close()
            self._settle()
        finally:
            try:
                self._settle()
            finally:
                if self._details is not None:
                    self._details.shutdown(wait=True, cancel_futures=True)

    # -- what earlier runs lost ------------------------------------------------------------------------------
    def _retry_lost(self, source: CatalogSource) -> None:
        run, options = self.run_, self.options
        for entry in self.database.list_ingest_retries(source=run.source):
            if self._must_stop():
                return
            kind, position = entry["kind"], entry["position"]
            try:
                page = source.page_at(position) if kind == "page" else source.item_page(position)
            except UpstreamRateLimitedError as exc:
                run.stopped_by, run.error = "rate_limited", exc.message
                return
            except UpstreamUnreachableError as exc:
                run.stopped_by, run.error = "unreachable", exc.message
                return
            if page.error is not None:
                self.lost.add((kind, entry["retry_key"]))
                attempts = self.database.record_ingest_retry(
                    source=run.source, kind=kind, key=entry["retry_key"], position=position,
                    label=page.label, reason=page.error.message, run_id=run.run_id,
                )
                if kind == "page":
                    run.stats.failed_pages += 1
                else:
                    run.stats.failed += 1
                    run.stats.fetched += 1
                given_up = attempts >= MAX_RETRY_ATTEMPTS
                if given_up:
                    self.database.clear_ingest_retry(source=run.source, kind=kind, key=entry["retry_key"])
                reason = page.error.message + (f" (dropped after {attempts} attempts)" if given_up else "")
                run.skip(Skip(kind, page.label, reason, retried_later=not given_up))
                continue
            outcome = self._ingest(source, page, retrying=True)
            self._settle()
            if not outcome.finished:
                return  # interrupted (deadline, limit, rate limit); the entry stays for the next run
            self.database.clear_ingest_retry(source=run.source, kind=kind, key=entry["retry_key"])
            run.retried += 1
            logger.info("recovered what an earlier run lost", extra={"source": run.source, "page": page.label})
            if options.on_progress is not None:
                options.on_progress(run.source, outcome.processed)

    # -- the plan --------------------------------------------------------------------------------------------
    def _walk(self, source: CatalogSource, pages: Generator[SourcePage]) -> None:
        run, options = self.run_, self.options
        longest_page_s = 0.0
        failure_streak: list[SourcePage] = []
        while True:
            if options.deadline.seconds_left() <= longest_page_s:
                run.stopped_by = "deadline"
                break
            if options.limit is not None and run.stats.fetched >= options.limit:
                run.stopped_by = "limit"
                break
            page_started_left = options.deadline.seconds_left()
            page_started = time.monotonic()
            try:
                page = next(pages)
            except StopIteration:
                self._settle()
                run.checkpoint = None  # the whole plan is done; the next run starts a new cycle
                break
            except UpstreamRateLimitedError as exc:
                run.stopped_by, run.error = "rate_limited", exc.message
                break
            except UpstreamUnreachableError as exc:
                run.stopped_by, run.error = "unreachable", exc.message
                break
            if page.error is not None and ("page", _retry_key("page", page.position)) in self.lost:
                # Already counted and listed by the retry pass of this run.
                self._save_checkpoint(page.next_position)
                continue
            if page.error is not None:
                run.stats.failed_pages += 1
                logger.warning(
                    "ingest page failed; skipped",
                    extra={"source": run.source, "page": page.label, "reason": page.error.message},
                )
                failure_streak.append(page)
                if len(failure_streak) >= self.pipeline.max_consecutive_page_failures:
                    # The source is down, not one page flaky: the next run starts again at the streak's start,
                    # so these pages are not lost and not queued.
                    run.stopped_by, run.error = "upstream_failures", page.error.message
                    self._save_checkpoint(failure_streak[0].position)
                    break
                self._save_checkpoint(page.next_position)
                continue
            self._record_lost_pages(failure_streak)
            failure_streak.clear()
            outcome = self._ingest(source, page)
            if options.on_progress is not None:
                options.on_progress(run.source, outcome.processed)
            elapsed = (
                page_started_left - options.deadline.seconds_left()
                if math.isfinite(page_started_left)
                else time.monotonic() - page_started
            )
            longest_page_s = max(longest_page_s, elapsed)
            if outcome.stopped_by is not None:
                run.stopped_by = outcome.stopped_by
                run.error = outcome.error
                break
        self._settle()
        if run.stopped_by != "upstream_failures":
            self._record_lost_pages(failure_streak)

    def _record_lost_pages(self, pages: Sequence[SourcePage]) -> None:
        for page in pages:
            assert page.error is not None
            self._record_loss("page", page.position, page.label, page.error.message)

    def _record_loss(self, kind: Literal["page", "item"], position: Checkpoint, label: str, reason: str) -> None:
        run = self.run_
        self.lost.add((kind, _retry_key(kind, position)))
        if not self.options.dry_run and run.run_id is not None:
            self.database.record_ingest_retry(
                source=run.source, kind=kind, key=_retry_key(kind, position), position=position, label=label,
                reason=reason, run_id=run.run_id,
            )
        run.skip(Skip(kind, label, reason, retried_later=not self.options.dry_run))

    def _must_stop(self) -> bool:
        run, options = self.run_, self.options
        if options.deadline.expired():
            run.stopped_by = "deadline"
        elif options.limit is not None and run.stats.fetched >= options.limit:
            run.stopped_by = "limit"
        return run.stopped_by is not None

    def _heartbeat(self) -> None:
        if self.options.dry_run or self.run_.run_id is None:
            return
        if time.monotonic() - self._last_beat >= HEARTBEAT_EVERY_S:
            self.database.ingest_heartbeat(run_id=self.run_.run_id)
            self._last_beat = time.monotonic()

    def _save_checkpoint(self, checkpoint: Checkpoint | None) -> None:
        """Move the run's checkpoint on, after whatever page is still being written has landed."""
        self._settle()
        self.run_.checkpoint = checkpoint
        self._store_checkpoint()

    def _store_checkpoint(self) -> None:
        run = self.run_
        if self.options.dry_run or run.run_id is None:
            return
        self.database.save_ingest_checkpoint(
            run_id=run.run_id, source=run.source, checkpoint=run.checkpoint, stats=run.stats.as_dict()
        )
        self._last_beat = time.monotonic()

    # -- one page --------------------------------------------------------------------------------------------
    def _ingest(self, source: CatalogSource, page: SourcePage, *, retrying: bool = False) -> _PageOutcome:
        """Compare, complete (details, several at once) and hand the page to the writer; the page's checkpoint
        is saved once it is written. A page fetched again for an earlier run (`retrying`) leaves the
        checkpoint where it is."""
        stats, options = self.run_.stats, self.options
        kind = page.kind or source.item_kind
        key_field = KIND_KEYS[kind].key_field
        stats.pages += 1
        # Entries without an id or a title: seen, and failed; nothing to fetch again by.
        stats.fetched += page.incomplete
        stats.failed += page.incomplete
        if page.incomplete:
            self.run_.skip(
                Skip(
                    "item",
                    f"{page.incomplete} entries on {page.label}",
                    "; ".join(dict.fromkeys(page.refused_because[:3])) or "no usable id or title",
                    False,
                )
            )
        fresh_rows: list[Row] = []
        for row in page.rows:
            keys = source.identity_keys(row)
            if any(key in self.seen for key in keys):
                stats.duplicates += 1
                continue
            self.seen.update(keys)
            fresh_rows.append(row)
        finished = True
        limit = options.limit
        if limit is not None and stats.fetched + len(fresh_rows) > limit:
            fresh_rows = fresh_rows[: limit - stats.fetched]
            finished = False
        stored = (
            self.database.get_content_hashes(
                source=KIND_KEYS[kind].stored_as, external_ids=[str(row[key_field]) for row in fresh_rows]
            )
            if fresh_rows
            else {}
        )

        texts = [source.embedding_text(row) for row in fresh_rows]
        hashes = [content_hash(text) for text in texts]
        needs = [
            stored.get(str(row[key_field])) != text_hash and source.needs_completion and not page.completed
            for row, text_hash in zip(fresh_rows, hashes, strict=True)
        ]
        completions = self._complete_all(
            source, key_field, [row for row, need in zip(fresh_rows, needs, strict=True) if need]
        )

        to_embed: list[tuple[Row, str]] = []
        to_refresh: list[Row] = []
        stopped_by: StopReason | None = None
        error: str | None = None
        processed = 0
        for row, text, text_hash, need in zip(fresh_rows, texts, hashes, needs, strict=True):
            external_id = str(row[key_field])
            stored_hash = stored.get(external_id)
            if need:
                completion = completions.get(external_id)
                if completion is None:  # the deadline came before it could be asked for
                    finished = False
                    break
                try:
                    row = completion.result()
                except _DeadlineReached:
                    finished = False
                    break
                except UpstreamRateLimitedError as exc:
                    finished, stopped_by, error = False, "rate_limited", exc.message
                    break
                except UpstreamUnreachableError as exc:
                    finished, stopped_by, error = False, "unreachable", exc.message
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
                    label = f"{source.name} item {external_id}"
                    if isinstance(exc, UpstreamNotFoundError):
                        # Gone from the source: nothing a later run could fetch.
                        self.run_.skip(Skip("item", label, exc.message, retried_later=False))
                    else:
                        self._record_loss("item", {"id": row[key_field]}, label, exc.message)
                    continue
                text = source.embedding_text(row)
                text_hash = content_hash(text)
            stats.fetched += 1
            processed += 1
            row["content_hash"] = text_hash
            if stored_hash == text_hash:
                to_refresh.append({**row, "embedding": None})
            elif options.dry_run:
                if stored_hash is None:
                    stats.new += 1
                else:
                    stats.updated += 1
            else:
                to_embed.append((row, text))
        if completions and not finished:
            # Answers nobody will read: let them land before the source's client is closed.
            wait_for_all(list(completions.values()))

        after = self.run_.checkpoint if retrying else (page.next_position if finished else page.position)
        if options.dry_run:
            stats.unchanged += len(to_refresh)
            self.run_.checkpoint = after
        else:
            while len(self._pending) >= MAX_PAGES_IN_WRITER:
                self._settle_oldest()
            job = _WriteJob(to_embed, lambda: self._write(source, kind, to_embed, to_refresh))
            self._pending.append((self._writer.submit(job), after))
        return _PageOutcome(processed, finished, stopped_by, error)

    def _complete_all(self, source: CatalogSource, key_field: str, rows: list[Row]) -> dict[str, Future[Row]]:
        """Ask for every row's details at once (the source's limiter paces them); none once the deadline is
        past."""
        if not rows or self.options.deadline.expired():
            return {}
        self._heartbeat()
        if self._details is None:
            self._details = ThreadPoolExecutor(
                max_workers=max(1, self.options.detail_concurrency), thread_name_prefix="ingest-details"
            )
        return {
            str(row[key_field]): self._details.submit(self._complete_in_time, source, row) for row in rows
        }

    def _complete_in_time(self, source: CatalogSource, row: Row) -> Row:
        if self.options.deadline.expired():
            raise _DeadlineReached
        return source.complete(row)

    def _settle(self) -> None:
        """Wait for every page in the writer, count what each wrote, and save the checkpoint they earned."""
        while self._pending:
            self._settle_oldest()

    def _settle_oldest(self) -> None:
        future, checkpoint = self._pending.popleft()
        written = future.result()
        stats = self.run_.stats
        stats.new += written.counts["new"]
        stats.updated += written.counts["updated"]
        stats.unchanged += written.counts["unchanged"]
        stats.embedded += written.embedded
        stats.failed += written.failed
        for skipped in written.skips:
            self.run_.skip(skipped)
        self.run_.checkpoint = checkpoint
        self._store_checkpoint()

    def _write(
        self, source: CatalogSource, kind: ItemKind, to_embed: list[tuple[Row, str]], to_refresh: list[Row]
    ) -> _Written:
        """In the writer thread, once the lane has embedded `to_embed`: upsert it, refresh the rest."""
        written = _Written()
        writes = catalog_writes(self.database, kind, demo=source.is_demo)
        if to_embed:
            written.embedded += len(to_embed)
            self._upsert(source, kind, writes.store, [row for row, _ in to_embed], written)
        if to_refresh:
            self._upsert(source, kind, writes.refresh, to_refresh, written)
        return written

    def _upsert(
        self,
        source: CatalogSource,
        kind: ItemKind,
        write: Callable[[Sequence[Row]], dict[str, int]],
        rows: list[Row],
        written: _Written,
    ) -> None:
        """One statement per page. If the database refuses the batch, find the row it refuses: the others
        are written one by one and only the refused ones count as failed."""
        try:
            counts = write(rows)
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
                    single = write([row])
                except DatabaseUnavailableError:
                    raise
                except (ValidationError, ConflictError, DatabaseError) as row_exc:
                    written.failed += 1
                    written.skips.append(
                        Skip("item", f"{source.name} item {row.get(KIND_KEYS[kind].key_field)}", row_exc.message, False)
                    )
                    logger.warning(
                        "row refused by the database; skipped",
                        extra={
                            "source": source.name,
                            "id": row.get(KIND_KEYS[kind].key_field),
                            "reason": row_exc.message,
                        },
                    )
                    continue
                for key in counts:
                    counts[key] += single.get(key, 0)
        written.counts["new"] += counts.get("inserted", 0)
        written.counts["updated"] += counts.get("updated", 0)
        written.counts["unchanged"] += counts.get("unchanged", 0)
