"""Judged relevance of search over the demo catalog: success@5, MRR@10 and NDCG@10 per kind of query and
per language, and latency, through the search function's real Lambda handler.

    .venv/bin/python bench/bench_search_relevance.py                       # a throwaway database
    .venv/bin/python bench/bench_search_relevance.py --data-dir /tmp/rel   # keep it and reuse it next time
    .venv/bin/python bench/bench_search_relevance.py --misses              # also list each miss

The judgements are bench/relevance/judgements.yaml, written by hand from the catalog's facts. The runner
starts an embedded PostgreSQL in a temp directory (or `--data-dir`), applies the migrations, loads the demo
catalog (embedded with the shipped model; an existing one is reused), then sends every query as a Lambda
Function URL event to the search handler (the same FastAPI app and code path as production) with limit 10.

Metrics (graded judgements: 2 = what was asked for, 1 = also acceptable):
- success@5: a result of grade >= 1 among the first five (for title queries: the title asked for, grade 2).
- MRR@10: 1 / rank of the first relevant result within ten, else 0.
- NDCG@10: gains 2^grade - 1, ideal ranking from all judged items.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import psycopg  # noqa: E402

from cinelibre.db import embedded, get_database, migrate  # noqa: E402
from cinelibre.settings import get_settings  # noqa: E402
from tests.api.lambda_events import http_event, invoke  # noqa: E402

JUDGEMENTS = REPO_ROOT / "bench" / "relevance" / "judgements.yaml"
TITLE_KINDS = ("title_exact", "title_misspelt", "title_romanized", "title_native", "title_cross_script")
KIND_ORDER = (*TITLE_KINDS, "describe_en", "describe_native", "person", "topic", "filter")
LANGUAGES = ("en", "hi", "te", "ta", "kn", "ml", "bn", "mr")
K = 10


class Context:
    function_name = "cinelibre-relevance"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:cinelibre-relevance"
    aws_request_id = "relevance"
    log_group_name = "/aws/lambda/cinelibre-relevance"
    log_stream_name = "relevance"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def catalog_facts(url: str) -> tuple[dict[int, str], dict[str, set[str]], dict[str, set[str]], dict[str, set[str]]]:
    """Item id -> stable key, and the keys by genre, by category and by person (director, cast, author)."""
    keys: dict[int, str] = {}
    by_genre: dict[str, set[str]] = defaultdict(set)
    by_category: dict[str, set[str]] = defaultdict(set)
    by_person: dict[str, set[str]] = defaultdict(set)
    with psycopg.connect(url) as conn:
        for item_id, tmdb_id, genres, director, cast in conn.execute(
            "select item_id, tmdb_id, genres, director,"
            " array(select jsonb_array_elements(cast_members)->>'name') from public.movies"
        ):
            key = f"tmdb:{tmdb_id}"
            keys[item_id] = key
            for genre in genres:
                by_genre[genre].add(key)
            for person in [*(director or "").split(", "), *cast]:
                if person:
                    by_person[person].add(key)
        for item_id, google_id, categories, authors in conn.execute(
            "select item_id, google_id, categories, authors from public.books"
        ):
            key = f"book:{google_id}"
            keys[item_id] = key
            for category in categories:
                by_category[category].add(key)
            for author in authors:
                by_person[author].add(key)
    return keys, by_genre, by_category, by_person


def judged(query: dict[str, Any], by_genre, by_category, by_person) -> dict[str, int]:  # noqa: ANN001
    grades: dict[str, int] = {}
    for source, name in ((by_genre, "accept_genre"), (by_category, "accept_category"), (by_person, "accept_person")):
        if name in query:
            found = source.get(query[name], set())
            if not found:
                raise SystemExit(f"{query['q']!r}: nothing in the catalog has {name} {query[name]!r}")
            grades.update(dict.fromkeys(found, 1))
    grades.update({str(key): int(grade) for key, grade in (query.get("rel") or {}).items()})
    return grades


def metrics(ranked: list[str], grades: dict[str, int], kind: str) -> dict[str, float]:
    # A title query succeeds only when the title asked for (grade 2) is in the first five.
    wanted = 2 if kind in TITLE_KINDS and 2 in grades.values() else 1
    success = float(any(grades.get(key, 0) >= wanted for key in ranked[:5]))
    reciprocal = next((1 / rank for rank, key in enumerate(ranked[:K], 1) if grades.get(key, 0) >= 1), 0.0)
    dcg = sum((2 ** grades.get(key, 0) - 1) / math.log2(rank + 1) for rank, key in enumerate(ranked[:K], 1))
    ideal = sorted(grades.values(), reverse=True)[:K]
    idcg = sum((2**grade - 1) / math.log2(rank + 1) for rank, grade in enumerate(ideal, 1))
    return {"success@5": success, "mrr@10": reciprocal, "ndcg@10": dcg / idcg if idcg else 0.0}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def table(title: str, groups: dict[str, list[dict[str, float]]], order: tuple[str, ...]) -> list[str]:
    lines = [f"### {title}", "", "| group | queries | success@5 | MRR@10 | NDCG@10 |", "|---|---:|---:|---:|---:|"]
    names = [name for name in order if name in groups] + sorted(set(groups) - set(order))
    for name in names:
        rows = groups[name]
        mean = {m: statistics.fmean(r[m] for r in rows) for m in ("success@5", "mrr@10", "ndcg@10")}
        lines.append(
            f"| {name} | {len(rows)} | {mean['success@5']:.3f} | {mean['mrr@10']:.3f} | {mean['ndcg@10']:.3f} |"
        )
    return [*lines, ""]


def ensure_demo_catalog(database: Any, settings: Any) -> None:
    from cinelibre.demo.catalog import load_catalog
    from cinelibre.embedding import get_embedder

    embedder = get_embedder(settings.model_copy(update={"embed_threads": os.cpu_count() or 1}))
    started = time.perf_counter()
    summary = load_catalog(database, embedder)
    print(f"demo catalog ready in {time.perf_counter() - started:.0f} s: {summary}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="keep the database here and reuse it (default: temp dir)")
    parser.add_argument("--judgements", type=Path, default=JUDGEMENTS)
    parser.add_argument("--misses", action="store_true", help="list every query that failed success@5")
    parser.add_argument("--output", type=Path, help="also write the markdown report here")
    parser.add_argument("--label", default="", help="a name for this run in the report")
    parser.add_argument(
        "--sweep", action="store_true",
        help="also try fusion weights around the defaults (in process, on cached rankings) and print the best",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cinelibre-relevance-") as directory:
        data_dir = args.data_dir or Path(directory)
        try:
            report = run(args, data_dir)
        finally:
            embedded.stop(data_dir)
    print(report)
    if args.output:
        args.output.write_text(report)


def run(args: argparse.Namespace, data_dir: Path) -> str:
    url = embedded.start(data_dir)
    migrate.apply_migrations(url)
    os.environ.update(
        {
            "CINELIBRE_ENV": "production",
            "CINELIBRE_JWT_SECRET": secrets.token_urlsafe(48),
            "DATABASE_URL": url,
            "CINELIBRE_DATA_DIR": str(data_dir),
            # The runner sends hundreds of searches a minute from one address: the per-IP limit would refuse them.
            "CINELIBRE_RATE_LIMITS_ENABLED": "false",
        }
    )
    get_settings.cache_clear()
    settings = get_settings()
    database = get_database(settings)
    ensure_demo_catalog(database, settings)

    from cinelibre.api import search
    from cinelibre.api.lambda_handler import make_handler
    from cinelibre.observability import logger

    logger.setLevel("WARNING")
    handler = make_handler(search.create_app(settings))
    keys, by_genre, by_category, by_person = catalog_facts(url)
    queries = yaml.safe_load(args.judgements.read_text())["queries"]

    def ask(query: dict[str, Any]) -> tuple[list[str], float]:
        params = {"q": query["q"], "limit": K, **(query.get("filters") or {})}
        started = time.perf_counter()
        response = invoke(handler, Context(), http_event("GET", "/search/semantic", query=params))
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise SystemExit(f"{query['q']!r} answered {response.status}: {response.text[:300]}")
        return [keys[hit["item_id"]] for hit in response.json()["results"]], elapsed

    for query in queries[:5]:  # warm the model, the connection and the plans
        ask(query)
    by_kind: dict[str, list[dict[str, float]]] = defaultdict(list)
    by_language: dict[str, list[dict[str, float]]] = defaultdict(list)
    title_by_language: dict[str, list[dict[str, float]]] = defaultdict(list)
    latencies: list[float] = []
    misses: list[str] = []
    for query in queries:
        grades = judged(query, by_genre, by_category, by_person)
        ranked, elapsed = ask(query)
        latencies.append(elapsed)
        scores = metrics(ranked, grades, query["kind"])
        by_kind[query["kind"]].append(scores)
        by_language[query["lang"]].append(scores)
        if query["kind"] in TITLE_KINDS:
            title_by_language[query["lang"]].append(scores)
        if scores["success@5"] < 1:
            top = ", ".join(ranked[:5])
            misses.append(f"- [{query['kind']}/{query['lang']}] {query['q']!r}: top 5 {top or '(none)'}")

    everything = [s for rows in by_kind.values() for s in rows]
    lines = [
        f"## Search relevance {args.label}".rstrip(),
        "",
        f"{len(queries)} judged queries over the demo catalog ({len(keys)} items), limit {K}, "
        "through the search function's Lambda handler.",
        "",
        *table("By kind of query", {**by_kind, "all": everything}, (*KIND_ORDER, "all")),
        *table("By language (all kinds)", by_language, LANGUAGES),
        *table("Title queries by language", title_by_language, LANGUAGES),
        "### Latency per query (ms, handler, warm)",
        "",
        f"p50 {percentile(latencies, 50):.1f}, p90 {percentile(latencies, 90):.1f}, "
        f"p99 {percentile(latencies, 99):.1f}, max {max(latencies):.1f}",
        "",
    ]
    if args.misses:
        lines += ["### Misses (success@5 = 0)", "", *misses, ""]
    if args.sweep:
        lines += sweep(database, settings, queries, keys, by_genre, by_category, by_person)
    return "\n".join(lines)


class _Cached:
    """Memoises a database's or embedder's calls, so fusion weights can be tried without querying again."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._memo: dict[Any, Any] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            key = (name, repr(args), repr(sorted(kwargs.items())))
            if key not in self._memo:
                self._memo[key] = method(*args, **kwargs)
            return self._memo[key]

        return call


def sweep(database, settings, queries, keys, by_genre, by_category, by_person) -> list[str]:  # noqa: ANN001
    import dataclasses
    import itertools

    from cinelibre.embedding import get_embedder
    from cinelibre.search import FusionWeights, SearchFilters, SemanticSearch

    cached_database, cached_embedder = _Cached(database), _Cached(get_embedder(settings))

    def evaluate(weights: FusionWeights) -> dict[str, dict[str, float]]:
        search = SemanticSearch(cached_database, cached_embedder, weights=weights)
        groups: dict[str, list[dict[str, float]]] = defaultdict(list)
        for query in queries:
            filters = dict(query.get("filters") or {})
            item_type = filters.pop("item_type", "all")
            outcome = search.search(query["q"], item_type=item_type, limit=K, filters=SearchFilters(**filters))
            ranked = [keys[hit.item_id] for hit in outcome.hits]
            scores = metrics(ranked, judged(query, by_genre, by_category, by_person), query["kind"])
            groups[query["kind"]].append(scores)
            groups["all"].append(scores)
        return {
            kind: {m: statistics.fmean(r[m] for r in rows) for m in ("success@5", "ndcg@10")}
            for kind, rows in groups.items()
        }

    default = FusionWeights()
    grid = {
        "semantic": (1.0, 1.25),
        "text": (1.5, 1.75, 2.0, 2.5),
        "text_coverage_power": (1.0, 1.25),
    }
    results = []
    for values in itertools.product(*grid.values()):
        weights = dataclasses.replace(default, **dict(zip(grid, values, strict=True)))
        figures = evaluate(weights)
        worst_kind = min(figures[kind]["success@5"] for kind in figures)
        results.append((figures["all"]["ndcg@10"], figures["all"]["success@5"], worst_kind, weights, figures))
    results.sort(key=lambda result: (result[0], result[1]), reverse=True)
    lines = ["### Fusion weight sweep (in process, top 16 by NDCG@10 over all queries)", ""]
    baseline = evaluate(default)
    lines.append(f"- default {default}: NDCG@10 {baseline['all']['ndcg@10']:.3f}, "
                 f"success@5 {baseline['all']['success@5']:.3f}")
    for ndcg, success, worst, weights, figures in results[:16]:
        per_kind = ", ".join(f"{kind} {v['success@5']:.2f}/{v['ndcg@10']:.2f}" for kind, v in sorted(figures.items()))
        lines.append(f"- {weights}: NDCG@10 {ndcg:.3f}, success@5 {success:.3f}, worst kind {worst:.2f}; {per_kind}")
    return [*lines, ""]


if __name__ == "__main__":
    main()
