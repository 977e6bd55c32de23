"""One `cinelibre serve` process for the whole test session, as `make run` starts it: no cloud settings, its
own data directory, the embedded PostgreSQL and the demo catalog (embedded on first start, which is the slow
part, so the CLI tests and the browser tests share one server)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).with_name("cinelibre")
STARTUP_TIMEOUT_S = 420


@dataclass(frozen=True)
class DemoServer:
    base: str
    log: Path
    env: dict[str, str]
    # A second local origin the server's CORS allowlist admits, for the web app served apart from the API.
    other_origin: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(CLI), "serve", "--port", str(port)], env=env, cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def wait_ready(process: subprocess.Popen, base: str, log: Path) -> dict:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            response = httpx.get(f"{base}/", timeout=5)
            if response.status_code == 200:
                return response.json()
        except httpx.TransportError:
            pass
        time.sleep(1)
    pytest.fail(f"serve was not ready within {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def serve_env(data_dir: Path, cors_origins: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SUPABASE_", "CINELIBRE_", "DATABASE_URL", "JWT_SECRET"))}
    return env | {"CINELIBRE_DATA_DIR": str(data_dir), "CINELIBRE_EMBED_THREADS": "2",
                  "POWERTOOLS_LOG_LEVEL": "WARNING", "CINELIBRE_CORS_ORIGINS": cors_origins}


@pytest.fixture(scope="session")
def demo_server() -> Iterator[DemoServer]:
    # Not under pytest's basetemp: pytest prunes old basetemps of the same user, so a second pytest run on
    # the machine could delete this server's database from under it.
    with tempfile.TemporaryDirectory(prefix="cinelibre-serve-") as directory:
        data_dir = Path(directory)
        other_origin = f"http://127.0.0.1:{free_port()}"
        env = serve_env(data_dir, cors_origins=other_origin)
        port = free_port()
        log = data_dir / "serve.log"
        process = start_serve(env, port, log)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(process, base, log)
            yield DemoServer(base, log, env, other_origin)
        finally:
            process.terminate()
            process.wait(timeout=30)
            subprocess.run([str(CLI), "db", "stop"], env=env, cwd=REPO, timeout=60, check=False)
