"""Embedding model benchmark: cold start, query latency, passage throughput, peak memory and fidelity.

    .venv/bin/python bench/bench_embedding.py                 # the shipped layer (layers/model/build/model)
    .venv/bin/python bench/bench_embedding.py --sweep         # plus throughput at several batch sizes
    .venv/bin/python bench/bench_embedding.py --model-path /tmp/variants/fp32/model   # a variant of build.py

Each figure comes from a fresh Python process, so peak RSS (VmHWM) and cold start belong to that process
alone. Targets (issue 3): search-path peak RSS < 250 MB, ingest < 350 MB, query p50 <= 6 ms on one thread,
cold start <= 1.5 s, mean cosine to the original model >= 0.99. Results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "tests" / "embedding" / "reference" / "reference_vectors.json"
SEARCH_FUNCTION = REPO / "functions" / "search"


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _reference() -> dict:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


class _Model:
    """The shipped layer through the real `Embedder`; another layer (a build.py --variant) through FastEmbed
    with the same options, since the embedder rightly refuses a model id it was not written for."""

    def __init__(self, model_path: Path | None, threads: int, batch_size: int) -> None:
        from cinelibre.embedding import MODEL_ID, Embedder

        path = model_path or _shipped_path()
        manifest = json.loads((path / "manifest.json").read_text())
        self.model_id = manifest["model_id"]
        self.batch_size = batch_size
        if self.model_id == MODEL_ID:
            embedder = Embedder(path, threads=threads, batch_size=batch_size)
            embedder.load()
            self.embed_query: Callable[[str], list[float]] = embedder.embed_query
            self.embed_passages: Callable[[Iterable[str]], Iterator[list[float]]] = embedder.embed_passages
            return
        from fastembed import TextEmbedding
        from fastembed.common.model_description import ModelSource, PoolingType

        TextEmbedding.add_custom_model(
            model=self.model_id, pooling=PoolingType.MEAN, normalization=True,
            sources=ModelSource(url=path.as_uri()), dim=384, model_file="model.onnx",
        )  # fmt: skip
        model = TextEmbedding(self.model_id, threads=threads, specific_model_path=str(path), cuda=False)
        self.embed_query = lambda text: next(iter(model.query_embed(text))).tolist()
        self.embed_passages = lambda texts: (
            v.tolist() for v in model.passage_embed(texts, batch_size=batch_size)
        )


def _shipped_path() -> Path:
    from cinelibre.settings import load_settings

    return load_settings().model_path


def _synopses(count: int) -> list[str]:
    """`count` distinct texts of ingest's size, made from the reference synopses."""
    base = [entry["text"] for entry in _reference()["synopses"]]
    return [
        base[i % len(base)] + ("" if i < len(base) else f" Edition {i // len(base)}.") for i in range(count)
    ]


def measure_cold_start(args: argparse.Namespace) -> dict:
    """Import of the search function's handler module, which loads the model at init, then a first query."""
    started = time.perf_counter()
    sys.path.insert(0, str(SEARCH_FUNCTION))
    import app  # the search Lambda's handler module: functions/search/app.py  # noqa: F401

    imported = time.perf_counter()
    from cinelibre.embedding import get_embedder
    from cinelibre.settings import get_settings

    embedder = get_embedder(get_settings())
    embedder.load()  # a no-op when the module loaded it at init, as functions/search does
    loaded = time.perf_counter()
    embedder.embed_query("space opera")
    first = time.perf_counter()
    return {
        "import_and_load_s": round(loaded - started, 3),
        "module_import_s": round(imported - started, 3),
        "model_load_ms": embedder.readiness().get("load_ms"),
        "first_query_ms": round((first - loaded) * 1000, 2),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def measure_queries(args: argparse.Namespace) -> dict:
    model = _Model(args.model_path, args.threads, args.batch_size)
    queries = [entry["text"] for entry in _reference()["queries"]]
    for text in queries:  # warm-up: first runs allocate the arena and pick kernels
        model.embed_query(text)
    timings, cpu_timings = [], []
    for index in range(args.queries):
        started, cpu_started = time.perf_counter(), time.process_time()
        model.embed_query(queries[index % len(queries)])
        timings.append((time.perf_counter() - started) * 1000)
        cpu_timings.append((time.process_time() - cpu_started) * 1000)
    timings.sort()
    return {
        "model_id": model.model_id,
        "threads": args.threads,
        "queries": args.queries,
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(timings[int(0.95 * len(timings)) - 1], 2),
        "mean_ms": round(statistics.fmean(timings), 2),
        # CPU time of the process per query: what the query costs when other work shares the cores.
        "cpu_p50_ms": round(statistics.median(cpu_timings), 2),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def measure_passages(args: argparse.Namespace) -> dict:
    model = _Model(args.model_path, args.threads, args.batch_size)
    texts = _synopses(args.synopses)
    started, cpu_started = time.perf_counter(), time.process_time()
    count = sum(1 for _ in model.embed_passages(texts))
    elapsed, cpu_elapsed = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "model_id": model.model_id,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "texts": count,
        "texts_per_s": round(count / elapsed, 1),
        "texts_per_cpu_s": round(count / cpu_elapsed, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def measure_fidelity(args: argparse.Namespace) -> dict:
    import numpy as np

    model = _Model(args.model_path, args.threads, args.batch_size)
    reference = _reference()

    def vectors(entries: list[dict]) -> np.ndarray:
        return np.array([entry["vector"] for entry in entries])

    queries = np.array([model.embed_query(entry["text"]) for entry in reference["queries"]])
    synopses = np.array(list(model.embed_passages([entry["text"] for entry in reference["synopses"]])))
    extras = np.array(list(model.embed_passages([entry["text"] for entry in reference["extras"]])))
    cosines = np.concatenate([
        (queries * vectors(reference["queries"])).sum(axis=1),
        (synopses * vectors(reference["synopses"])).sum(axis=1),
        (extras * vectors(reference["extras"])).sum(axis=1),
    ])  # fmt: skip
    reference_top = np.argsort(-(vectors(reference["queries"]) @ vectors(reference["synopses"]).T), axis=1)[
        :, :10
    ]
    shipped_top = np.argsort(-(queries @ synopses.T), axis=1)[:, :10]
    overlaps = [len(set(r) & set(s)) for r, s in zip(reference_top, shipped_top, strict=True)]
    # A query embedded alone against the same text embedded in a batch of synopses: 0 means a stored vector
    # never depends on which other texts shared its batch.
    in_batch = list(
        model.embed_passages([reference["queries"][0]["text"], *_synopses(model.batch_size - 1)])
    )[0]
    return {
        "model_id": model.model_id,
        "texts": int(cosines.size),
        "cosine_mean": round(float(cosines.mean()), 5),
        "cosine_min": round(float(cosines.min()), 5),
        "top10_overlap_mean": round(float(np.mean(overlaps)), 2),
        "queries_with_top10_overlap_ge_9": f"{sum(o >= 9 for o in overlaps)}/{len(overlaps)}",
        "top1_agreement": f"{sum(int(r[0] == s[0]) for r, s in zip(reference_top, shipped_top, strict=True))}"
        f"/{len(overlaps)}",
        "batch_dependence_max_abs": float(np.abs(np.array(in_batch) - queries[0]).max()),
    }


MEASUREMENTS = {
    "cold_start": measure_cold_start,
    "queries": measure_queries,
    "passages": measure_passages,
    "fidelity": measure_fidelity,
}


def _run_child(name: str, args: argparse.Namespace, **overrides: object) -> dict:
    options = {**vars(args), **overrides}
    command = [sys.executable, __file__, "--measure", name, "--threads", str(options["threads"]),
               "--batch-size", str(options["batch_size"]), "--queries", str(options["queries"]),
               "--synopses", str(options["synopses"])]  # fmt: skip
    if options["model_path"]:
        command += ["--model-path", str(options["model_path"])]
    # Powertools logs the model load on stdout; the child's result is its last line.
    env = {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING"}
    completed = subprocess.run(command, capture_output=True, text=True, check=False, env=env)  # noqa: S603
    if completed.returncode != 0:
        return {"error": completed.stderr.strip().splitlines()[-1] if completed.stderr.strip() else "failed"}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _machine() -> dict:
    import onnxruntime

    flags = ""
    model = platform.processor()
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = line
    isa = [name for name in ("avx2", "avx512f", "avx512_vnni", "avx_vnni") if f" {name} " in flags]
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "isa": isa,
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        # Other work on the machine slows every figure; a load above the core count means shared cores.
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-path", type=Path, default=None, help="a built layer's model directory")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (Lambda default: 1)")
    parser.add_argument("--batch-size", type=int, default=8, help="passage batch (settings.embed_batch_size)")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--synopses", type=int, default=2000)
    parser.add_argument("--sweep", action="store_true", help="also passage throughput at batch 1, 4, 16, 32")
    parser.add_argument("--measure", choices=sorted(MEASUREMENTS), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.measure:
        print(json.dumps(MEASUREMENTS[args.measure](args)))
        return

    results = {"machine": _machine()}
    if args.model_path is None:
        results["cold_start (search function module)"] = _run_child("cold_start", args)
    results["fidelity"] = _run_child("fidelity", args)
    results[f"queries, {args.threads} thread(s)"] = _run_child("queries", args)
    results["queries, 2 threads"] = _run_child("queries", args, threads=2)
    results[f"passages, batch {args.batch_size}"] = _run_child("passages", args)
    if args.sweep:
        for batch in (1, 4, 16, 32):
            results[f"passages, batch {batch}"] = _run_child("passages", args, batch_size=batch)
    results["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    for name, figures in results.items():
        print(f"{name}: {json.dumps(figures)}")


if __name__ == "__main__":
    main()
