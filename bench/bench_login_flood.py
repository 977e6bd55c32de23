"""A login flood against one instance: login throughput, and the latency of a cheap route (GET /movies) while
the flood runs, without and with the per-instance bcrypt cap. Also the cost of the per-request session check.

    .venv/bin/python bench/bench_login_flood.py [--logins 200] [--concurrency 100] [--rounds 12]

Each configuration runs `cinelibre serve --no-demo` (uvicorn, one process, FastAPI's thread pool of 40) on one
embedded PostgreSQL, with rate limits off so that every login reaches bcrypt. "uncapped" sets
CINELIBRE_BCRYPT_CONCURRENCY=64 (above the thread pool: the old behaviour); "capped" uses the default (the CPU
count) with the default 2 s queue timeout, after which a login gets 503 `overloaded` with Retry-After.
"uncapped" also raises the queue timeout to its 30 s maximum so that (almost) no login is shed.
Every login uses a wrong password for an existing account, so each one costs a full bcrypt check.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PASSWORD = "correct horse battery staple"
PROBE_TIMEOUT_S = 60.0


def start_server(data_dir: Path, port: int, rounds: int, concurrency: int | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CINELIBRE_", "DATABASE_URL", "SUPABASE_"))}
    env |= {
        "CINELIBRE_ENV": "development", "CINELIBRE_DATA_DIR": str(data_dir), "CINELIBRE_BCRYPT_ROUNDS": str(rounds),
        "CINELIBRE_RATE_LIMITS_ENABLED": "false", "POWERTOOLS_LOG_LEVEL": "ERROR", "CINELIBRE_EMBED_THREADS": "1",
    }
    if concurrency is not None:
        # The old behaviour: every login computes at once (FastAPI's 40 threads are the only limit) and none
        # is shed, so the cap is set above the thread pool and the queue wait to its maximum.
        env["CINELIBRE_BCRYPT_CONCURRENCY"] = str(concurrency)
        env["CINELIBRE_BCRYPT_QUEUE_TIMEOUT_S"] = "30"
    log = (data_dir / f"serve-{port}.log").open("w")
    return subprocess.Popen(
        [str(BIN / "cinelibre"), "serve", "--no-demo", "--port", str(port)], env=env, cwd=REPO, stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_ready(base: str, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    raise SystemExit(f"{base} was not ready")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def cheap_route_latencies(client: httpx.AsyncClient, stop: asyncio.Event, interval_s: float) -> list[float]:
    """GET /movies every `interval_s` while the flood runs; a probe that times out counts at its timeout."""
    latencies = []
    while not stop.is_set():
        started = time.perf_counter()
        try:
            response = await client.get("/movies", params={"limit": 5}, timeout=PROBE_TIMEOUT_S)
            assert response.status_code == 200, response.text
        except httpx.TimeoutException:
            pass
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(interval_s)
    return latencies


async def flood(base: str, logins: int, concurrency: int) -> dict:
    # No keep-alive: uvicorn closes idle connections after 5 s, and reusing one just then is a read error.
    limits = httpx.Limits(max_connections=concurrency + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        quiet = []
        for _ in range(30):
            started = time.perf_counter()
            await client.get("/movies", params={"limit": 5})
            quiet.append((time.perf_counter() - started) * 1000)
        semaphore = asyncio.Semaphore(concurrency)
        statuses: Counter[int | str] = Counter()

        async def one_login() -> None:
            async with semaphore:
                try:
                    response = await client.post(
                        "/auth/login", json={"email": "flood@example.com", "password": "wrong"}
                    )
                except httpx.TransportError as exc:
                    statuses[type(exc).__name__] += 1
                    return
                statuses[response.status_code] += 1

        stop = asyncio.Event()
        probe = asyncio.create_task(cheap_route_latencies(client, stop, 0.05))
        started = time.perf_counter()
        await asyncio.gather(*(one_login() for _ in range(logins)))
        elapsed = time.perf_counter() - started
        stop.set()
        during = await probe
    return {
        "elapsed_s": elapsed,
        "statuses": dict(statuses),
        "bcrypt_checks_per_s": statuses[401] / elapsed,
        "quiet_p50_ms": statistics.median(quiet),
        "during_p50_ms": statistics.median(during),
        "during_p95_ms": percentile(during, 0.95),
        "during_max_ms": max(during),
        "probes": len(during),
    }


def session_check_cost(data_dir: Path, calls: int = 500) -> dict:
    from cinelibre.auth.accounts import new_secret_token, token_hash
    from cinelibre.auth.passwords import hash_password
    from cinelibre.db import embedded
    from cinelibre.db.postgres import PostgresDatabase

    database = PostgresDatabase(embedded.start(data_dir), max_connections=1)
    try:
        user = database.get_auth_account(email="flood@example.com")
        if user is None:
            user = database.register_user(email="flood@example.com", password_hash=hash_password(PASSWORD, rounds=10),
                                          name="Flood", confirmed=True)
        session_id = database.start_auth_session(
            user_id=str(user["id"]), refresh_token_hash=token_hash(new_secret_token()), ttl_s=3600
        )
        timings = {}
        for name, call in (
            ("check_auth_session", lambda: database.check_auth_session(session_id=session_id, user_id=str(user["id"]))),
            ("get_user (for comparison)", lambda: database.get_user(user_id=str(user["id"]))),
        ):
            call()
            started = time.perf_counter()
            for _ in range(calls):
                call()
            timings[name] = (time.perf_counter() - started) * 1000 / calls
        return timings
    finally:
        database.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--port", type=int, default=8790)
    args = parser.parse_args()
    print(f"cpu_count={os.cpu_count()} logins={args.logins} concurrency={args.concurrency} bcrypt cost={args.rounds}")
    with tempfile.TemporaryDirectory(prefix="cinelibre-flood-") as directory:
        data_dir = Path(directory)
        results = {}
        for label, cap in (("uncapped (64)", 64), (f"capped ({os.cpu_count()})", None)):
            process = start_server(data_dir, args.port, args.rounds, cap)
            base = f"http://127.0.0.1:{args.port}"
            try:
                wait_ready(base)
                httpx.post(f"{base}/auth/register", json={"email": "flood@example.com", "password": PASSWORD,
                                                          "name": "Flood"}, timeout=60)
                results[label] = asyncio.run(flood(base, args.logins, args.concurrency))
            finally:
                process.terminate()
                process.wait(timeout=30)
        for label, result in results.items():
            print(
                f"{label:>14}: {result['elapsed_s']:.1f} s, statuses {result['statuses']}, "
                f"{result['bcrypt_checks_per_s']:.1f} bcrypt checks/s; GET /movies p50 quiet "
                f"{result['quiet_p50_ms']:.1f} ms, during flood p50 {result['during_p50_ms']:.1f} ms, "
                f"p95 {result['during_p95_ms']:.1f} ms, max {result['during_max_ms']:.1f} ms "
                f"({result['probes']} probes)"
            )
        for name, ms in session_check_cost(data_dir).items():
            print(f"session check cost: {name}: {ms:.3f} ms per call (psycopg, embedded PostgreSQL, unix socket)")
        from cinelibre.db import embedded

        embedded.stop(data_dir)


if __name__ == "__main__":
    main()
