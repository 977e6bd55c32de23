"""Run the functions as `sam build` packages them, at the CPU share and memory of a Lambda memory size.

    sudo .venv/bin/python bench/lambda_share.py                                   # search at 512 MB
    .venv/bin/python bench/lambda_share.py --functions auth,search,recommend --memory 512,1024,1769
    .venv/bin/python bench/lambda_share.py --functions search --importtime         # where the import goes

Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB, so about 0.29 of one at
512 MB. This machine's cores are whole, so this harness puts each function in a Linux cgroup
(bench/lambda_cgroup.py) with a CFS quota of `memory / 1769 * 100 ms` per 100 ms period and a hard memory
limit of the memory size, and runs it there (bench/lambda_share_runner.py, one fresh `python -S` process per
cold start, joining the cgroup before it execs), laid out as Lambda's Python runtime lays it out (the
package as /var/task, the model layer as /opt, the runtime's boto3). The embedded PostgreSQL runs in this
process's own cgroup, outside the quota, as Supabase is remote to a Lambda.

Per function and memory size it prints: cold start (process start to handler imported, the import alone,
the model load within it, the first response, and their sum), warm latency p50/p95/p99 with requests paced
at `--rate` per second and back to back, CPU milliseconds per request (the cgroup's cpuacct), how often the
quota throttled, and peak memory (the process's peak RSS and the cgroup's peak, which includes page cache).

The packages: `--build-dir .aws-sam/build` uses what `sam build` made; otherwise each function is built once
with functions/build_function.py (what its Makefile runs under `sam build`) into a cache folder keyed by the
hash of the sources, so later runs reuse it.

Needs root and cgroups (v1 cpu/cpuacct/memory, or v2); elsewhere it prints why it cannot run and exits 0.
The CPU quota caps each function whatever else runs; other load on the machine can only slow it further,
so compare figures from one run (all the sizes and functions of a run go back to back).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import platform
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(REPO_ROOT), str(BENCH_DIR)]

from lambda_cgroup import CgroupUnavailable, LambdaCgroup, PriorityCgroup, vcpu_share  # noqa: E402

from tests.deploy.built import (  # noqa: E402
    BuiltFunction,
    LambdaRuntime,
    built_functions,
    event,
    runtime_packages,
)
from tests.deploy.cloudformation import Deployment, load_template  # noqa: E402

RUNNER = BENCH_DIR / "lambda_share_runner.py"
MODEL_DIR = REPO_ROOT / "layers" / "model" / "build" / "model"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cinelibre" / "lambda-share"
FUNCTIONS = ("auth", "search", "recommend", "ingest", "train")
# The first request of a cold start; ingest's event crawls TMDB and Google Books (no network here), so it is
# timed import-only; train's first (and only) invocation is one full training run on the generated ratings.
FIRST_EVENTS = {
    "auth": "auth-health.json",
    "search": "search-semantic.json",
    "recommend": "recommend-popular.json",
    "ingest": None,
    "train": "train-scheduled.json",
}
SEARCH_QUERIES = (
    "a film lover outwits the police to protect his family",
    "gritty crime thriller in a rainy city",
    "space opera with a lonely robot",
    "coming of age story in a small village",
    "historical epic about a warrior queen",
    "funny road trip with old friends",
    "detective solves a murder during the monsoon",
    "family drama across three generations",
    "romance between rival chefs",
    "haunted house in the hills",
)
# AWS Lambda on-demand prices, x86, first tier, us-east-1 (eu-west-1 is the same), as published on
# https://aws.amazon.com/lambda/pricing/ and read on 2026-11-30: duration per GB-second, and per request.
PRICE_PER_GB_SECOND_X86 = 0.0000166667
PRICE_PER_REQUEST = 0.20 / 1_000_000
# One client logging in and searching hundreds of times would be refused (429) by the default limits; these keep
# the limiter's work in every request (its counter is still written) but never let it refuse one.
UNREACHABLE_RATE_LIMITS = {
    f"CINELIBRE_RATE_LIMIT_{name}": "1000000/60" for name in ("LOGIN_PER_IP", "LOGIN_PER_ACCOUNT", "SEARCH_PER_IP")
}
BENCH_EMAIL = "lambda-share@example.com"
BENCH_PASSWORD = "a long benchmark passphrase"  # noqa: S105 (a throwaway local account)


# -- packages -----------------------------------------------------------------------------------------------


def _extras(name: str) -> str:
    makefile = (REPO_ROOT / "functions" / name / "Makefile").read_text()
    match = re.search(r"--extras\s+(\S+)", makefile)
    return match.group(1) if match else ""


def _source_hash(name: str) -> str:
    """Changes whenever anything that goes into the function's package changes."""
    digest = hashlib.sha256()
    inputs = [
        REPO_ROOT / "pyproject.toml",
        REPO_ROOT / "functions" / "build_function.py",
        REPO_ROOT / "functions" / name / "app.py",
        REPO_ROOT / "functions" / name / "Makefile",
        *sorted((REPO_ROOT / "src").rglob("*.py")),
    ]
    for path in inputs:
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()[:16]


def build_cached(name: str, cache: Path) -> Path:
    out = cache / "build" / f"{name}-{_source_hash(name)}"
    if (out / "app.py").is_file():
        return out
    for stale in (cache / "build").glob(f"{name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    print(f"building {name} with functions/build_function.py into {out}", file=sys.stderr)
    staging = out.with_name(out.name + ".partial")
    subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "functions" / "build_function.py"),
            "--extras",
            _extras(name),
            "--handler-dir",
            str(REPO_ROOT / "functions" / name),
            "--out",
            str(staging),
        ],
        check=True,
        stdout=sys.stderr,
    )
    staging.rename(out)
    return out


def model_layer(cache: Path) -> Path:
    """/opt with the model layer's content (layers/model/Makefile copies build/model to model/)."""
    if not (MODEL_DIR / "manifest.json").is_file():
        raise SystemExit("no model layer: run `make layer` first")
    opt = cache / "opt"
    manifest = (MODEL_DIR / "manifest.json").read_bytes()
    if not (opt / "model" / "manifest.json").is_file() or (opt / "model" / "manifest.json").read_bytes() != manifest:
        shutil.rmtree(opt, ignore_errors=True)
        shutil.copytree(MODEL_DIR, opt / "model")
    return opt


def functions_to_run(
    labels: list[str], build_dir: Path | None, cache: Path, packages: dict[str, Path]
) -> dict[str, BuiltFunction]:
    """Each label is a function name, or `name:variant` for a package given with --package (to compare a
    variant, e.g. the package before a change, with the current one in the same run)."""
    deployment = Deployment(load_template())
    built = built_functions(build_dir) if build_dir is not None else {}
    opt = model_layer(cache)
    functions = {}
    for label in labels:
        name = label.split(":")[0]
        if label in packages:
            code_dir = packages[label]
        elif name in built:
            functions[label] = built[name]
            continue
        else:
            code_dir = build_cached(name, cache)
        logical_id = f"{name.capitalize()}Function"
        layers = deployment.function_property(logical_id, "Layers") or []
        functions[label] = BuiltFunction(
            name=name,
            logical_id=logical_id,
            code_dir=code_dir,
            layer_dirs=(opt,) if layers else (),
            timeout_s=deployment.function_property(logical_id, "Timeout"),
            memory_mb=deployment.function_property(logical_id, "MemorySize"),
            environment=deployment.environment(logical_id),
        )
    return functions


# -- database -------------------------------------------------------------------------------------------------


def prepare_database(url: str, items: int, ratings: int) -> dict[str, Any]:
    """A generated catalog (random unit vectors: the SQL does the same work whatever the vectors say),
    ratings, and one account with a known password, reused when the data folder already holds them."""
    import bcrypt
    import psycopg
    from bench_api import generated_catalog, load_catalog, load_ratings, random_unit_vectors

    from cinelibre.db import migrate
    from cinelibre.db.postgres import PostgresDatabase

    migrate.apply_migrations(url)
    rng = random.Random(14)
    with psycopg.connect(url, autocommit=True) as conn:
        stored = conn.execute("select count(*) from public.items").fetchone()[0]
    if stored < items:
        if stored:
            raise SystemExit("the data folder holds a smaller catalog; delete it or pass --items to match")
        print(f"loading {items} generated items and {ratings} ratings (once per data folder)", file=sys.stderr)
        database = PostgresDatabase(url, statement_timeout_s=600)
        try:
            movies, books = generated_catalog(items, rng)
            load_catalog(database, movies, books, lambda texts: random_unit_vectors(len(texts), rng))
        finally:
            database.close()
        load_ratings(url, ratings, max(1, ratings // 50), rng)
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("select id from public.users where email = %s", (BENCH_EMAIL,)).fetchone()
        if row is None:
            hashed = bcrypt.hashpw(BENCH_PASSWORD.encode(), bcrypt.gensalt(12)).decode()
            row = conn.execute(
                "insert into public.users (email, password_hash, name) values (%s, %s, 'Lambda Share') returning id",
                (BENCH_EMAIL, hashed),
            ).fetchone()
        # A confirmed account, as every account that logs in in production is (issue 10 refuses the others).
        conn.execute("update public.users set email_confirmed_at = now() where id = %s", (row[0],))
        rater_ids = [str(r[0]) for r in conn.execute("select distinct user_id from public.ratings limit 50")]
    database = PostgresDatabase(url)
    try:
        sessions = {
            user_id: database.start_auth_session(
                user_id=user_id, refresh_token_hash=secrets.token_hex(32), ttl_s=86_400
            )
            for user_id in [*rater_ids[:20], str(row[0])]
        }
    finally:
        database.close()
    return {"user_id": str(row[0]), "rater_ids": rater_ids, "sessions": sessions}


def warm_events(name: str, jwt_secret: str, people: dict[str, Any]) -> list[dict[str, Any]]:
    """What a warm container of each function answers most: searches, logins, personal recommendations."""
    if name == "search":
        events = []
        for query in SEARCH_QUERIES:
            sample = event("search-semantic.json")
            sample["queryStringParameters"]["q"] = query
            sample["rawQueryString"] = re.sub(r"q=[^&]*", "q=" + query.replace(" ", "+"), sample["rawQueryString"])
            events.append(sample)
        return events
    if name == "auth":
        return [event("auth-login.json", body={"email": BENCH_EMAIL, "password": BENCH_PASSWORD})]
    if name == "recommend":
        from cinelibre.auth.tokens import TokenService
        from cinelibre.settings import Settings

        # The functions' own issuer and audience defaults, signed with the secret they are given, each for a live
        # session (the functions check it on every request), as a login would have started.
        tokens = TokenService.from_settings(Settings(jwt_secret=jwt_secret))
        return [
            event("recommend-personalized.json", token=tokens.issue(user_id, people["sessions"][user_id]).token)
            for user_id in people["rater_ids"][:20] or [people["user_id"]]
        ]
    return []


# -- one execution environment ------------------------------------------------------------------------------


@dataclass
class Environment:
    """One runner process in the cgroup: a Lambda execution environment from cold start to shutdown."""

    function: BuiltFunction
    group: LambdaCgroup
    spec_path: Path
    env: dict[str, str]
    log_path: Path
    importtime_path: Path | None = None
    process: subprocess.Popen | None = None
    results: Any = None
    init: dict[str, Any] = field(default_factory=dict)
    init_wall_s: float = 0.0
    peak_rss_mb: float = 0.0

    def start(self) -> None:
        read_fd, write_fd = os.pipe()
        command = [sys.executable, "-S", "-P"]
        if self.importtime_path is not None:
            command += ["-X", "importtime"]
        command += [str(RUNNER), str(self.spec_path), str(write_fd)]
        started = time.perf_counter()
        with (
            self.log_path.open("w") as log,
            (self.importtime_path or self.log_path.with_suffix(".err")).open("w") as err,
        ):
            self.process = subprocess.Popen(  # noqa: S603 (our interpreter, our runner)
                command,
                env=self.env,
                cwd=self.spec_path.parent,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=err,
                pass_fds=(write_fd,),
                text=True,
                preexec_fn=self.group.enter,  # noqa: PLW1509 (no threads run in this process meanwhile)
            )
        os.close(write_fd)
        self.results = os.fdopen(read_fd)
        self.init = self._receive()
        self.init_wall_s = time.perf_counter() - started
        if "error" in self.init:
            raise SystemExit(f"{self.function.name} did not import:\n{self.init['error']}\n{self.logs()}")

    def _receive(self) -> dict[str, Any]:
        line = self.results.readline()
        if not line:
            self.process.wait(timeout=30)
            raise SystemExit(
                f"{self.function.name} exited ({self.process.returncode}) in a {self.group.memory_mb} MB cgroup"
                f" (memory limit hits: {self.group.memory_events()}):\n{self.logs()}"
            )
        return json.loads(line)

    def invoke(self, sample: dict[str, Any]) -> dict[str, Any]:
        self.process.stdin.write(json.dumps({"event": sample}) + "\n")
        self.process.stdin.flush()
        answer = self._receive()
        if "error" in answer or answer.get("status", 500) >= 400:
            raise SystemExit(f"{self.function.name} answered {answer}\n{self.logs()}")
        self.peak_rss_mb = max(self.peak_rss_mb, answer["peak_rss_mb"])
        return answer

    def restore(self) -> dict[str, Any]:
        self.process.stdin.write(json.dumps({"restore": True}) + "\n")
        self.process.stdin.flush()
        return self._receive()

    def logs(self) -> str:
        return self.log_path.read_text()[-4000:]

    def model_load_ms(self) -> float | None:
        for line in self.log_path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if record.get("message") == "embedding model loaded":
                    return float(record["load_ms"])
        return None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stdin.close()
            self.process.wait(timeout=60)
            self.results.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def summarise_importtime(path: Path, top: int = 14) -> list[tuple[str, float]]:
    """Import time by top-level package, in ms: the sum of each module's own ("self") time, so a package is
    charged for its modules only, not for what they import from other packages."""
    totals: dict[str, float] = {}
    for line in path.read_text().splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if match:
            package = match.group(4).split(".")[0]
            totals[package] = totals.get(package, 0.0) + int(match.group(1)) / 1000
    return sorted(totals.items(), key=lambda item: -item[1])[:top]


class Harness:
    def __init__(self, args: argparse.Namespace, scratch: Path, url: str, people: dict[str, Any]) -> None:
        self.args, self.scratch, self.people = args, scratch, people
        self.jwt_secret = secrets.token_urlsafe(48)
        self.runtime = LambdaRuntime(
            scratch / "opt-unused",
            runtime_packages(scratch / "var-runtime"),
            scratch,
            {"DATABASE_URL": url, "JWT_SECRET": self.jwt_secret, **UNREACHABLE_RATE_LIMITS, **dict(args.env)},
        )
        self.count = 0

    def environment(self, function: BuiltFunction, group: LambdaCgroup, importtime: bool = False) -> Environment:
        self.count += 1
        opt = function.layer_dirs[0] if function.layer_dirs else self.scratch / "empty-opt"
        opt.mkdir(exist_ok=True)
        self.runtime.opt = opt
        env = self.runtime.environment(function)
        env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(group.memory_mb)
        spec_path = self.scratch / f"{function.name}-{self.count}.json"
        spec_path.write_text(
            json.dumps(
                {
                    "task_root": str(function.code_dir),
                    "opt": str(opt),
                    "runtime": str(self.runtime.runtime),
                    "handler": "app.handler",
                    "function_name": f"cinelibre-{function.name}",
                    "memory_mb": group.memory_mb,
                    "timeout_s": function.timeout_s,
                }
            )
        )
        return Environment(
            function,
            group,
            spec_path,
            env,
            log_path=self.scratch / f"{function.name}-{self.count}.log",
            importtime_path=self.scratch / f"{function.name}-{self.count}.importtime" if importtime else None,
        )

    def cold_start(self, function: BuiltFunction, group: LambdaCgroup, keep: bool = False) -> tuple[dict, Environment]:
        group.reset_peaks()
        cpu_before = group.cpu_seconds()
        environment = self.environment(function, group)
        environment.start()
        figures: dict[str, Any] = {
            "init_s": environment.init_wall_s,
            "import_s": environment.init["import_s"],
            "init_cpu_s": group.cpu_seconds() - cpu_before,
        }
        first = FIRST_EVENTS[function.name]
        figures["peak_rss_mb"] = environment.init["peak_rss_mb"]
        if first:
            answer = environment.invoke(event(first))
            figures["first_s"] = answer["seconds"]
            figures["peak_rss_mb"] = max(figures["peak_rss_mb"], answer["peak_rss_mb"])
            figures["first_body"] = answer["body_prefix"]
        figures["model_load_s"] = (environment.model_load_ms() or 0) / 1000 or None
        figures["cold_s"] = figures["init_s"] + figures.get("first_s", 0.0)
        # Lambda bills the init phase too (since August 2025): one cold invocation costs init + its duration.
        figures["usd_per_cold_invocation"] = (
            figures["cold_s"] * group.memory_mb / 1024 * PRICE_PER_GB_SECOND_X86 + PRICE_PER_REQUEST
        )
        figures["loaded_modules"] = environment.init["loaded_modules"]
        if not keep:
            environment.stop()
            figures["cgroup_peak_mb"] = group.peak_memory_bytes() / 2**20
        return figures, environment

    def warm(self, environment: Environment, events: list[dict[str, Any]], count: int, rate: float | None) -> dict:
        group = environment.group
        for sample in events[:3]:  # warm-up, as a container that has served a few requests
            environment.invoke(sample)
        cpu_before, throttle_before = group.cpu_seconds(), group.throttled()
        seconds, cpu = [], []
        started = time.perf_counter()
        for index in range(count):
            if rate:
                delay = started + index / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            answer = environment.invoke(events[index % len(events)])
            seconds.append(answer["seconds"])
            cpu.append(answer["cpu_s"])
        elapsed = time.perf_counter() - started
        # Lambda bills each invocation's duration rounded up to the millisecond.
        billed_gb_s = sum(math.ceil(value * 1000) / 1000 for value in seconds) / count * group.memory_mb / 1024
        periods, throttled, throttled_s = (a - b for a, b in zip(group.throttled(), throttle_before, strict=True))
        return {
            "requests": count,
            "rate": rate,
            "p50_ms": percentile(seconds, 50) * 1000,
            "p95_ms": percentile(seconds, 95) * 1000,
            "p99_ms": percentile(seconds, 99) * 1000,
            "mean_ms": statistics.fmean(seconds) * 1000,
            "cpu_ms_per_request": (group.cpu_seconds() - cpu_before) / count * 1000,
            "process_cpu_ms_per_request": statistics.fmean(cpu) * 1000,
            "throughput_per_s": count / elapsed,
            "usd_per_million": 1_000_000 * (billed_gb_s * PRICE_PER_GB_SECOND_X86 + PRICE_PER_REQUEST),
            "throttled_periods_pct": 100 * throttled / periods if periods else 0.0,
            "throttled_s": throttled_s,
        }

    def snapstart(self, function: BuiltFunction, group: LambdaCgroup) -> dict[str, Any]:
        """An init as for a snapshot, then what a restored environment runs before it answers: the
        after-restore hooks (secrets, connections, randomness) and the first response. Restoring the memory
        itself is Lambda's work and is not emulated here."""
        environment = self.environment(function, group)
        environment.env["AWS_LAMBDA_INITIALIZATION_TYPE"] = "snap-start"
        environment.start()
        try:
            restored = environment.restore()
            first = FIRST_EVENTS[function.name]
            answer = environment.invoke(event(first)) if first else {"seconds": 0.0}
        finally:
            environment.stop()
        return {"hooks_s": restored["seconds"], "hooks": restored["hooks"], "first_s": answer["seconds"]}

    def measure(self, function: BuiltFunction, memory_mb: int) -> dict[str, Any]:
        args = self.args
        group = LambdaCgroup.create(memory_mb)
        try:
            colds = []
            for run in range(args.cold_runs):
                figures, environment = self.cold_start(function, group, keep=run == args.cold_runs - 1)
                colds.append(figures)
            result: dict[str, Any] = {"function": function.name, "memory_mb": memory_mb, "vcpu": vcpu_share(memory_mb)}
            for key in (
                "init_s", "import_s", "model_load_s", "first_s", "cold_s", "init_cpu_s", "peak_rss_mb",
                "usd_per_cold_invocation",
            ):  # fmt: skip
                values = [c[key] for c in colds if c.get(key) is not None]
                result[f"cold_{key}"] = statistics.median(values) if values else None
            result["cold_max_s"] = max(c["cold_s"] for c in colds)
            modules = set(colds[-1]["loaded_modules"])
            result["imports_pil"] = "PIL" in modules
            result["imports_huggingface_hub"] = "huggingface_hub" in modules
            events = warm_events(function.name, self.jwt_secret, self.people)
            if events and args.requests:
                count = args.requests if function.name != "auth" else max(10, args.requests // 10)
                rate = args.rate if function.name != "auth" else min(args.rate, 1.0)
                result["paced"] = self.warm(environment, events, count, rate)
                result["back_to_back"] = self.warm(environment, events, count, None)
            environment.stop()
            result["peak_rss_mb"] = max(environment.init["peak_rss_mb"], environment.peak_rss_mb)
            result["cgroup_peak_mb"] = group.peak_memory_bytes() / 2**20
            result["memory_limit_hits"] = group.memory_events()
            if args.snapstart:
                result["snapstart"] = self.snapstart(function, group)
            if args.importtime:
                environment = self.environment(function, group, importtime=True)
                environment.start()
                environment.stop()
                result["importtime_top_ms"] = summarise_importtime(environment.importtime_path)
            return result
        finally:
            group.remove()


def print_result(result: dict[str, Any]) -> None:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.0f}"

    print(
        f"\n{result['label']} at {result['memory_mb']} MB ({result['vcpu']:.2f} vCPU):"
        f" cold start {ms(result['cold_cold_s'])} ms (max {ms(result['cold_max_s'])})"
        f" = init {ms(result['cold_init_s'])} (import {ms(result['cold_import_s'])},"
        f" model load {ms(result['cold_model_load_s'])}) + first response {ms(result['cold_first_s'])};"
        f" init CPU {ms(result['cold_init_cpu_s'])} ms"
        f" (= {ms(result['cold_init_cpu_s'] / result['vcpu'])} ms at the share with no other load);"
        f" one cold invocation ${result['cold_usd_per_cold_invocation']:.6f}"
    )
    print(
        f"  imports PIL: {result['imports_pil']}, huggingface_hub: {result['imports_huggingface_hub']};"
        f" peak RSS {result['peak_rss_mb']:.0f} MB, cgroup peak {result['cgroup_peak_mb']:.0f} MB"
        f" (incl. page cache), memory limit hits {result['memory_limit_hits']}"
    )
    for label in ("paced", "back_to_back"):
        warm = result.get(label)
        if warm:
            pace = f"paced at {warm['rate']:g}/s" if warm["rate"] else "back to back"
            print(
                f"  warm {pace:<16} n={warm['requests']:<4} p50 {warm['p50_ms']:7.1f}  p95 {warm['p95_ms']:7.1f}"
                f"  p99 {warm['p99_ms']:7.1f} ms;  CPU {warm['cpu_ms_per_request']:6.1f} ms/request;"
                f"  {warm['throughput_per_s']:5.1f}/s;  throttled in {warm['throttled_periods_pct']:.0f}% of periods;"
                f"  ${warm['usd_per_million']:.2f} per million"
            )
    if result.get("snapstart"):
        snap = result["snapstart"]
        print(
            f"  SnapStart: after-restore hooks {ms(snap['hooks_s'])} ms ({', '.join(snap['hooks']) or 'none'}),"
            f" then first response {ms(snap['first_s'])} ms (plus Lambda's own restore of the snapshot)"
        )
    if result.get("importtime_top_ms"):
        print("  import time (-X importtime, own time of each package's modules, ms): "
              + ", ".join(f"{name} {value:.0f}" for name, value in result["importtime_top_ms"]))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", default="search", help=f"comma-separated, of {', '.join(FUNCTIONS)}")
    parser.add_argument("--memory", default="512", help="comma-separated memory sizes in MB, e.g. 512,1024,1769")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold starts per function and size (median)")
    parser.add_argument("--requests", type=int, default=200, help="warm requests, paced and back to back")
    parser.add_argument("--rate", type=float, default=20.0, help="paced requests per second (auth: at most 1)")
    parser.add_argument("--snapstart", action="store_true", help="also time a SnapStart restore's hooks")
    parser.add_argument("--importtime", action="store_true", help="one more cold start under -X importtime")
    parser.add_argument("--build-dir", type=Path, default=None, help="use this `sam build` output instead")
    parser.add_argument(
        "--package",
        action="append",
        default=[],
        type=lambda s: tuple(s.split("=", 1)),
        help="LABEL=DIR: run this built package for LABEL (a function name, or name:variant in --functions)",
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where built packages are kept")
    parser.add_argument("--data-dir", type=Path, default=None, help="keep the database here between runs")
    parser.add_argument("--items", type=int, default=20_000, help="generated catalog size")
    parser.add_argument("--ratings", type=int, default=100_000, help="generated ratings")
    parser.add_argument("--env", action="append", default=[], type=lambda s: tuple(s.split("=", 1)),
                        help="NAME=VALUE added to every function's environment")  # fmt: skip
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    reason = LambdaCgroup.unavailable_reason()
    if reason:
        print(f"SKIPPED: bench/lambda_share.py cannot run here: {reason}")
        return
    names = [name.strip() for name in args.functions.split(",") if name.strip()]
    unknown = {name.split(":")[0] for name in names} - set(FUNCTIONS)
    if unknown:
        parser.error(f"unknown functions {sorted(unknown)}")
    memory_sizes = [int(size) for size in args.memory.split(",")]

    packages = {label: Path(folder) for label, folder in args.package}
    functions = functions_to_run(names, args.build_dir, args.cache, packages)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}, Python"
        f" {platform.python_version()}; CPU quota = memory/1769 of a vCPU per 100 ms period; database outside"
    )
    from cinelibre.db import embedded

    results = []
    with tempfile.TemporaryDirectory(prefix="cinelibre-lambda-share-") as scratch_name:
        scratch = Path(scratch_name)
        data_dir = args.data_dir or scratch / "pg"
        url = embedded.start(data_dir)
        database_group = None
        try:
            people = prepare_database(url, args.items, args.ratings)
            # Outside the function's cgroup, as Supabase is remote, but not starved by the machine's other load.
            database_group = PriorityCgroup.around(embedded.status(data_dir).pid)
            harness = Harness(args, scratch, url, people)
            for memory_mb in memory_sizes:
                for label, function in functions.items():
                    try:
                        result = {**harness.measure(function, memory_mb), "label": label}
                    except CgroupUnavailable as exc:
                        print(f"SKIPPED: {exc}")
                        return
                    print_result(result)
                    results.append(result)
        finally:
            embedded.stop(data_dir)
            if database_group is not None:
                database_group.remove()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
