"""One Lambda execution environment for bench/lambda_share.py: imports a built handler, then answers events.

Started by the harness as `python -S -P bench/lambda_share_runner.py SPEC.json RESULT_FD`, already inside the
Lambda-shaped cgroup (it joins before exec), with the import path Lambda's Python runtime lays out
(tests/deploy/lambda_runtime.py: the package as /var/task, the layers as /opt, the runtime's boto3). It reads
one JSON request per line on stdin and writes one JSON line per answer to RESULT_FD, so the function's own
logs (stdout) stay apart:

    -> {"kind": "init", "import_s", "process_cpu_s", "peak_rss_mb", "loaded_modules"}   (after the import)
    <- {"event": {...}}                                                                  (one per invocation)
    -> {"kind": "invocation", "seconds", "cpu_s", "status", "body_prefix", "peak_rss_mb"}
    <- {"restore": true}   runs the SnapStart after-restore hooks, as Lambda does after restoring a snapshot
    -> {"kind": "restored", "seconds", "hooks"}

Standard library only: nothing else is importable before the function's package is on the path.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any


def _lambda_runtime():
    """tests/deploy/lambda_runtime.py, which packaging tests run the same way: its Lambda context and memory
    probe, loaded by path because nothing but the standard library is importable here."""
    path = Path(__file__).resolve().parents[1] / "tests" / "deploy" / "lambda_runtime.py"
    spec = importlib.util.spec_from_file_location("lambda_runtime", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_runtime = _lambda_runtime()
Context = _runtime.Context
peak_rss_mb = _runtime.peak_rss_mb


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    results = os.fdopen(int(sys.argv[2]), "w", buffering=1)

    def send(message: dict[str, Any]) -> None:
        results.write(json.dumps(message) + "\n")

    task_root, opt = spec["task_root"], spec["opt"]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    sys.path[:0] = [task_root, f"{opt}/python/lib/{version}/site-packages", f"{opt}/python", spec["runtime"]]
    module_name, _, function_name = spec["handler"].rpartition(".")
    started = time.perf_counter()
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:
        send({"kind": "init", "error": "".join(traceback.format_exception(exc))})
        raise SystemExit(1) from None
    send(
        {
            "kind": "init",
            "import_s": time.perf_counter() - started,
            "process_cpu_s": time.process_time(),
            "peak_rss_mb": peak_rss_mb(),
            "loaded_modules": sorted(sys.modules),
        }
    )

    for line in sys.stdin:
        request = json.loads(line)
        if request.get("restore"):
            # What Lambda's runtime does after restoring a SnapStart snapshot: the registered hooks, in order.
            hooks_started = time.perf_counter()
            snapstart = sys.modules.get("cinelibre.snapstart")
            ran = snapstart.run_after_restore_hooks() if snapstart else []
            send({"kind": "restored", "seconds": time.perf_counter() - hooks_started, "hooks": ran})
            continue
        context = Context(spec["function_name"], spec["memory_mb"], spec["timeout_s"])
        cpu_before = time.process_time()
        invoked = time.perf_counter()
        try:
            response = handler(request["event"], context)
            # A scheduled function (train) returns its report, not an HTTP response: returning is its success.
            outcome: dict[str, Any] = {
                "status": response.get("statusCode", 200),
                "body_prefix": str(response.get("body", response))[:300],
            }
        except Exception as exc:
            outcome = {"error": "".join(traceback.format_exception(exc))[-3000:]}
        outcome["seconds"] = time.perf_counter() - invoked
        outcome["cpu_s"] = time.process_time() - cpu_before
        outcome["peak_rss_mb"] = peak_rss_mb()
        send({"kind": "invocation", **outcome})


if __name__ == "__main__":
    main()
