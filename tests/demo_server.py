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
        time.sleep(0.25)
    pytest.fail(f"serve was not ready within {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def serve_env(data_dir: Path, cors_origins: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SUPABASE_", "CINELIBRE_", "DATABASE_URL", "JWT_SECRET"))}
    return env | {"CINELIBRE_DATA_DIR": str(data_dir), "CINELIBRE_EMBED_THREADS": "2",
                  "POWERTOOLS_LOG_LEVEL": "WARNING", "CINELIBRE_CORS_ORIGINS": cors_origins}


class StartedDemoServer:
    """`cinelibre serve` started (not yet ready) in a fresh data directory. Not under pytest's basetemp: pytest
    prunes old basetemps of the same user, so a second pytest run on the machine could delete this server's
    database from under it."""

    def __init__(self) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="cinelibre-serve-")
        data_dir = Path(self._directory.name)
        self.other_origin = f"http://127.0.0.1:{free_port()}"
        self.env = serve_env(data_dir, cors_origins=self.other_origin)
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.log = data_dir / "serve.log"
        self.process = start_serve(self.env, port, self.log)
        self._stopped = False

    def ready(self) -> DemoServer:
        wait_ready(self.process, self.base, self.log)
        return DemoServer(self.base, self.log, self.env, self.other_origin)

    def stop(self) -> None:
        """Stop the server and the embedded PostgreSQL it left running, and remove its data directory."""
        if self._stopped:
            return
        self._stopped = True
        self.process.terminate()
        self.process.wait(timeout=30)
        subprocess.run([str(CLI), "db", "stop"], env=self.env, cwd=REPO, timeout=60, check=False)
        self._directory.cleanup()


EARLY_DEMO_SERVER = pytest.StashKey[StartedDemoServer]()


def wanted_by(items: list[pytest.Item]) -> bool:
    """Whether a collected test will use the session's server (the browser tests may be pointed at another)."""
    uses = any("demo_server" in item.fixturenames for item in items)
    browser_uses = any("app_url" in item.fixturenames for item in items) and not os.environ.get(
        "CINELIBRE_TEST_SERVE_URL"
    )
    return uses or browser_uses


@pytest.fixture(scope="session")
def demo_server(request: pytest.FixtureRequest) -> Iterator[DemoServer]:
    # tests/conftest.py starts the server as soon as the session has collected a test that uses it: the first
    # start embeds the whole demo catalog, so it runs beside the tests that come before.
    started = request.config.stash.get(EARLY_DEMO_SERVER, None) or StartedDemoServer()
    try:
        yield started.ready()
    finally:
        started.stop()
