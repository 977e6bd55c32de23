"""Runs a built Lambda function the way Lambda's Python runtime does, for tests/deploy and bench/.

Started as `python -S -P tests/deploy/lambda_runtime.py SPEC.json`: no site-packages, and an import path
laid out like Lambda's: the function's code (/var/task), the layers' python/ folders (/opt), then the
runtime's own packages such as boto3 (/var/runtime), then the standard library. So the function can only
import what its package, its layers and the runtime provide. SPEC.json names those folders, the handler, the
events to answer in order (warm invocations after the first) and where to write the results.

Standard library only: nothing else is importable before the function's package is on the path.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any


class Context:
    """The attributes and method of Lambda's context object."""

    def __init__(self, function_name: str, memory_mb: int, timeout_s: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:eu-west-1:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"2026/11/26/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def loaded_from(roots: list[str]) -> list[str]:
    """Files of the modules loaded so far that come from the function's package or its layers."""
    files = {getattr(module, "__file__", None) for module in list(sys.modules.values())}
    return sorted(f for f in files if f and any(f.startswith(root) for root in roots))


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    task_root, opt = spec["task_root"], spec["opt"]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    sys.path[:0] = [task_root, f"{opt}/python/lib/{version}/site-packages", f"{opt}/python", spec["runtime"]]

    module_name, _, function_name = spec["handler"].rpartition(".")
    results: dict[str, Any] = {"invocations": []}
    started = time.perf_counter()
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:
        results["import_error"] = "".join(traceback.format_exception(exc))
        Path(spec["output"]).write_text(json.dumps(results))
        raise SystemExit(1) from None
    results["import_s"] = time.perf_counter() - started

    for event in spec["events"]:
        context = Context(spec["function_name"], spec["memory_mb"], spec["timeout_s"])
        invoked = time.perf_counter()
        try:
            outcome = {"response": json.loads(json.dumps(handler(event, context)))}
        except Exception as exc:
            outcome = {
                "error": {
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "stackTrace": traceback.format_exception(exc),
                }
            }
        outcome["seconds"] = time.perf_counter() - invoked
        results["invocations"].append(outcome)

    results["peak_rss_mb"] = peak_rss_mb()
    results["loaded_files"] = loaded_from([task_root, opt])
    Path(spec["output"]).write_text(json.dumps(results))


if __name__ == "__main__":
    main()
