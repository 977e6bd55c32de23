"""Schemathesis with every check against `cinelibre serve` (all routes of the three functions on one server),
once anonymous and once with a bearer token, and print the summaries.

    .venv/bin/python bench/schemathesis_api.py [--max-examples 25] [--port 8765]

The server runs in development on a fresh embedded PostgreSQL under a temporary data dir (no demo catalog,
so item routes mostly answer 404), with rate limits off (they would otherwise answer most of the run with
429) and bcrypt at cost 10. The authenticated run leaves out the two logout routes, which would end the very
session the run uses; the anonymous run covers them (401).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def wait_ready(base: str, process: subprocess.Popen, log: Path, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"serve exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    raise SystemExit("serve was not ready in time")


def run_schemathesis(base: str, max_examples: int, extra: list[str], report: Path) -> int:
    command = [
        str(BIN / "schemathesis"), "run", f"{base}/openapi.json", "--checks", "all", "--max-examples",
        str(max_examples), "--workers", "1", "--seed", "10", "--no-color", "--report", "junit",
        "--report-junit-path", str(report), "--generation-database", "none", "--request-timeout", "60", *extra,
    ]
    print("$", " ".join(command), flush=True)
    return subprocess.run(command, check=False).returncode


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-examples", type=int, default=25)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cinelibre-schemathesis-") as directory:
        data_dir = Path(directory)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CINELIBRE_", "DATABASE_URL", "SUPABASE_"))}
        env |= {
            "CINELIBRE_ENV": "development", "CINELIBRE_DATA_DIR": str(data_dir), "CINELIBRE_BCRYPT_ROUNDS": "10",
            "CINELIBRE_RATE_LIMITS_ENABLED": "false", "POWERTOOLS_LOG_LEVEL": "ERROR",
        }
        log = data_dir / "serve.log"
        base = f"http://127.0.0.1:{args.port}"
        process = subprocess.Popen(
            [str(BIN / "cinelibre"), "serve", "--no-demo", "--port", str(args.port)],
            env=env, cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(base, process, log)
            registered = httpx.post(f"{base}/auth/register", json={
                "email": "fuzz@example.com", "password": "schemathesis fuzzing passphrase", "name": "Fuzz",
            }).json()
            token = registered["access_token"]
            results = {
                "anonymous": run_schemathesis(base, args.max_examples, [], REPO / "schemathesis-anonymous.xml"),
                "authenticated": run_schemathesis(
                    base, args.max_examples,
                    ["-H", f"Authorization: Bearer {token}", "--exclude-path-regex", "^/auth/logout"],
                    REPO / "schemathesis-authenticated.xml",
                ),
            }
            server_errors = log.read_text().count('"status":500')
            print(f"exit codes: {results}; 500 answers in the server log: {server_errors}")
        finally:
            process.terminate()
            process.wait(timeout=30)
            subprocess.run([str(BIN / "cinelibre"), "db", "stop"], env=env, cwd=REPO, check=False, timeout=60)


if __name__ == "__main__":
    main()
