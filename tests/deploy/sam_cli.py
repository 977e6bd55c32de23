"""Running the SAM CLI in tests: without its telemetry or its weekly PyPI version check (no test touches the
network), and with the project's Python 3.13 first on PATH, which `sam build` needs."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


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
