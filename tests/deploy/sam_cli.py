"""Running the SAM CLI in tests: without its telemetry or its weekly PyPI version check (no test touches the
network), and with the project's Python 3.13 first on PATH, which `sam build` needs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
REPO_ROOT = Path(__file__).resolve().parents[2]


def sam_environment(scratch: Path) -> dict[str, str]:
    app_dir = scratch / "sam-cli"
    app_dir.mkdir(parents=True, exist_ok=True)
    settings = {"telemetryEnabled": False, "lastVersionCheck": time.time()}
    (app_dir / "metadata.json").write_text(json.dumps(settings))
    return {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "SAM_CLI_TELEMETRY": "0",
        "__SAM_CLI_APP_DIR": str(app_dir),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "eu-west-1"),
    }


class SamBuild:
    """`sam build` of the repository as a process of its own, so it can run while other tests do. Its output
    goes to files: a pipe that nobody reads until the end would fill and stall the build."""

    def __init__(self) -> None:
        self._scratch = tempfile.TemporaryDirectory(prefix="cinelibre-sam-build-")
        root = Path(self._scratch.name)
        self._stdout, self._stderr = root / "stdout", root / "stderr"
        with self._stdout.open("w") as stdout, self._stderr.open("w") as stderr:
            self._process = subprocess.Popen(  # noqa: S603 (the project's own sam, fixed arguments)
                [VENV_BIN / "sam", "build"],
                cwd=REPO_ROOT,
                env=sam_environment(root),
                stdout=stdout,
                stderr=stderr,
                # Its own process group, so that `stop` also ends the make and pip processes it runs.
                start_new_session=True,
            )

    def wait(self, timeout_s: float) -> subprocess.CompletedProcess:
        try:
            returncode = self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.stop()
            raise
        return subprocess.CompletedProcess(
            self._process.args, returncode, self._stdout.read_text(), self._stderr.read_text()
        )

    def stop(self) -> None:
        """End the build if it still runs (the session stopped before its tests), and remove its files."""
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            self._process.wait(timeout=60)
        self._scratch.cleanup()
