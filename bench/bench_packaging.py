"""Sizes and cold starts of the Lambda packages that `sam build` makes.

    PATH="$PWD/.venv/bin:$PATH" sam build && .venv/bin/python bench/bench_packaging.py
    .venv/bin/python bench/bench_packaging.py --runs 10

Prints, from .aws-sam/build/: each function's unzipped size with its layers and its largest distributions;
then, for each function, `--runs` cold starts, each a fresh `python -S` process laid out as Lambda lays it out
(tests/deploy/lambda_runtime.py: the package as /var/task, the layers as /opt, the runtime's boto3), timing
the import of app.py (Lambda's init phase) and the first response to a sample event from events/, with the
process's peak RSS; and the search function's import again without the bytecode the build ships.

The functions run in production mode against a throwaway embedded PostgreSQL (secrets given directly in the
environment, so no SSM). This machine's cores are faster than a 512 MB Lambda's share of one (about 0.29 of
a vCPU), so Lambda's own cold starts take longer; compare the functions with each other, not with Lambda.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Run as a script from a checkout: reuse the packaging test's Lambda layout rather than writing it twice.
sys.path.insert(0, str(REPO_ROOT))

from cinelibre.db import embedded, migrate  # noqa: E402
from tests.deploy.built import (  # noqa: E402
    BUILD_DIR,
    BuiltFunction,
    LambdaRuntime,
    assemble_opt,
    built_functions,
    event,
    runtime_packages,
    shipped_distributions,
    unzipped_bytes,
)

MB = 1_000_000
FIRST_EVENTS = {
    "auth": "auth-health.json",
    "search": "search-semantic.json",
    "recommend": "recommend-popular.json",
    "ingest": None,  # its event crawls TMDB and Google Books: import only
}


def distribution_bytes(dist: importlib.metadata.Distribution) -> int:
    files = (Path(dist.locate_file(f)) for f in dist.files or ())
    return sum(f.stat().st_size for f in files if f.is_file())


def sizes(functions: dict[str, BuiltFunction]) -> None:
    print(
        f"{'function':<10} {'package MB':>10} {'layers MB':>10} {'total MB':>9}   largest distributions (MB)"
    )
    for function in functions.values():
        code = unzipped_bytes(function.code_dir) / MB
        layers = sum(unzipped_bytes(layer) for layer in function.layer_dirs) / MB
        by_distribution = sorted(
            (
                (distribution_bytes(dist) / MB, name)
                for name, dist in shipped_distributions(function.code_dir).items()
            ),
            reverse=True,
        )
        largest = ", ".join(f"{name} {size:.1f}" for size, name in by_distribution[:5])
        print(f"{function.name:<10} {code:>10.1f} {layers:>10.1f} {code + layers:>9.1f}   {largest}")


def cold_starts(runtime: LambdaRuntime, function: BuiltFunction, runs: int, label: str | None = None) -> None:
    first_event = FIRST_EVENTS[function.name]
    events = [event(first_event)] if first_event else []
    imports, firsts, peaks = [], [], []
    for _ in range(runs):
        result = runtime.invoke(function, events)
        imports.append(result["import_s"])
        peaks.append(result["peak_rss_mb"])
        if events:
            response = result["invocations"][0]["response"]
            if response.get("statusCode") not in (200, 201):
                raise SystemExit(f"{function.name}: {first_event} answered {response}")
            firsts.append(result["invocations"][0]["seconds"])
    first = f"{statistics.median(firsts) * 1000:>7.0f}" if firsts else f"{'-':>7}"
    print(
        f"{label or function.name:<22} {statistics.median(imports) * 1000:>9.0f} {max(imports) * 1000:>9.0f}"
        f" {first} {max(peaks):>9.0f}   {first_event or 'import only'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="cold starts per function")
    args = parser.parse_args()
    if not (BUILD_DIR / "template.yaml").is_file():
        raise SystemExit('no .aws-sam/build: run `PATH="$PWD/.venv/bin:$PATH" sam build` first')

    print(f"machine: {platform.machine()} {platform.platform()}, Python {platform.python_version()}")
    functions = built_functions()
    sizes(functions)

    with tempfile.TemporaryDirectory(prefix="cinelibre-bench-packaging-") as scratch_name:
        scratch = Path(scratch_name)
        url = embedded.start(scratch / "pg")
        try:
            migrate.apply_migrations(url)
            runtime = LambdaRuntime(
                assemble_opt(functions, scratch / "opt"),
                runtime_packages(scratch / "var-runtime"),
                scratch,
                # Given directly, the secrets are not looked up in SSM (settings resolve only missing ones).
                {"DATABASE_URL": url, "JWT_SECRET": secrets.token_urlsafe(48)},
            )
            print(f"\n{args.runs} cold starts each (medians; max import; peak RSS over the runs)")
            print(
                f"{'function':<22} {'import ms':>9} {'max ms':>9} {'first ms':>7} {'RSS MB':>9}   first event"
            )
            for function in functions.values():
                cold_starts(runtime, function, args.runs)

            search = functions["search"]
            without_bytecode = scratch / "search-without-bytecode"
            shutil.copytree(search.code_dir, without_bytecode)
            for cache in without_bytecode.rglob("__pycache__"):
                shutil.rmtree(cache)
            cold_starts(
                runtime,
                BuiltFunction(**{**search.__dict__, "code_dir": without_bytecode}),
                args.runs,
                label="search, no .pyc",
            )
        finally:
            embedded.stop(scratch / "pg")


if __name__ == "__main__":
    main()
