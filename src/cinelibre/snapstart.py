"""Lambda SnapStart for the HTTP functions: what to drop before the snapshot and redo after a restore.

With SnapStart (template.yaml: SnapStart ApplyOn PublishedVersions), Lambda runs the function's init once
when a version is published, snapshots the memory of the initialised environment, and starts later
environments by restoring that snapshot. So whatever the init left in memory is shared by every environment
restored from it, for as long as the version lives:
- database connections: their sockets are dead after a restore (and would be shared), so they are closed
  before the snapshot and each restored environment opens its own on first use;
- randomness: the `random` module's state would repeat in every restored environment; it is re-seeded from
  the operating system after the restore (`secrets`, `uuid4` and `os.urandom` read the kernel and need nothing);
- secrets: none are fetched while the snapshot is being prepared (`taking_snapshot()`; the settings leave the
  SSM / Secrets Manager references unresolved), and they are fetched after the restore, so rotating one
  needs no new version.

Lambda's Python runtime provides the hooks as the `snapshot_restore_py` module, only inside Lambda; this is the
one place that imports it. Hooks are also kept here, so tests (and bench/lambda_share.py) run what a restore
runs with `run_after_restore_hooks()`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import random
from collections.abc import Callable
from typing import Any

from cinelibre.observability import logger

Hook = Callable[[], None]
_RUNTIME_MODULE = "snapshot_restore_py"

_before_snapshot: list[Hook] = []
_after_restore: list[Hook] = []
_restored = False


def _runtime() -> Any | None:
    """Lambda's `snapshot_restore_py`, or None outside Lambda's Python runtime (where there is no snapshot)."""
    if importlib.util.find_spec(_RUNTIME_MODULE) is None:
        return None
    return importlib.import_module(_RUNTIME_MODULE)


def snapstart_init() -> bool:
    """Whether this environment is initialising for a SnapStart snapshot (Lambda says so in the environment)."""
    return os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start"


def taking_snapshot() -> bool:
    """True from a SnapStart init until the environment is restored: fetch no secret meanwhile."""
    return snapstart_init() and not _restored


def register_before_snapshot(hook: Hook) -> Hook:
    _before_snapshot.append(hook)
    runtime = _runtime()
    if runtime is not None:
        runtime.register_before_snapshot(hook)
    return hook


def register_after_restore(hook: Hook) -> Hook:
    _after_restore.append(hook)
    runtime = _runtime()
    if runtime is not None:
        runtime.register_after_restore(hook)
    return hook


def _mark_restored() -> None:
    global _restored
    _restored = True


def reseed_randomness() -> None:
    random.seed()


def run_before_snapshot_hooks() -> list[str]:
    """Run the registered before-snapshot hooks in order, as Lambda's runtime does; returns their names."""
    for hook in _before_snapshot:
        hook()
    return [hook.__qualname__ for hook in _before_snapshot]


def run_after_restore_hooks() -> list[str]:
    """Run the registered after-restore hooks in order, as Lambda's runtime does; returns their names."""
    for hook in _after_restore:
        hook()
    return [hook.__qualname__ for hook in _after_restore]


def forget_hooks() -> None:
    """Drop every registered hook and the restored mark (tests build several apps in one process)."""
    global _restored
    _before_snapshot.clear()
    _after_restore.clear()
    _restored = False


def install_app_hooks(app: Any) -> None:
    """Register the hooks for one FastAPI app built by `cinelibre.api.app.build_app` (state.settings, and
    state.tokens when it signs tokens). Registered in every environment; they only run around a snapshot."""
    from cinelibre.db import close_databases
    from cinelibre.settings import get_settings

    def close_connections() -> None:
        close_databases()

    def reload_settings_and_secrets() -> None:
        _mark_restored()
        reseed_randomness()
        # Connections from the snapshot are dead or shared: start afresh (get_database reconnects on demand).
        close_databases()
        _clear_secret_caches()
        get_settings.cache_clear()
        settings = get_settings()
        app.state.settings = settings
        # An app that signs tokens holds `state.tokens` (None during a snapshot's init: no secret yet).
        if hasattr(app.state, "tokens"):
            from cinelibre.auth.tokens import TokenService

            app.state.tokens = TokenService.from_settings(settings)
        logger.info("restored from a SnapStart snapshot", extra={"service": getattr(app.state, "service_name", "")})

    _import_what_a_restore_needs(getattr(app.state, "settings", None))
    register_before_snapshot(close_connections)
    register_after_restore(reload_settings_and_secrets)


# A Function URL request to a path no function serves: it runs Mangum, the middleware, the router and the 404
# error handler, and touches neither the database nor a secret.
_PRIMING_PATH = "/__snapstart-priming"


def prime(adapter: Callable[[dict[str, Any], Any], Any]) -> int:
    """Answer one request before the snapshot, so the code paths every first request runs (Mangum's event
    parsing, Starlette's request and response, FastAPI's routing and error handler, JSON encoding) are compiled,
    imported and warmed in the snapshot rather than in each restored environment's first answer. Measured on a
    full core: auth's first request after the import took 168 ms of CPU, 13 ms after priming. The priming
    request's latency metric is dropped so no invocation reports it. Returns the status it got (404)."""
    from cinelibre.observability import metrics

    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": _PRIMING_PATH,
        "rawQueryString": "",
        "headers": {"host": "localhost", "user-agent": "snapstart-priming"},
        "requestContext": {
            "http": {"method": "GET", "path": _PRIMING_PATH, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": "snapstart-priming"},  # fmt: skip
            "requestId": "snapstart-priming",
            "routeKey": "$default",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    response = adapter(event, None)
    metrics.clear_metrics()
    logger.set_correlation_id(None)
    status = int(response.get("statusCode", 0))
    logger.info("primed for the snapshot", extra={"status": status})
    return status


def _import_what_a_restore_needs(settings: Any) -> None:
    """Import now, so that it is in the snapshot, the code that a restored environment would otherwise import
    before its first answer: the secret store client (boto3, through Powertools) and the database adapter
    (psycopg and its pool, or supabase-py). Measured at 0.29 vCPU: about 2 s and 1 s. Importing opens no
    connection and reads no secret."""
    importlib.import_module("aws_lambda_powertools.utilities.parameters")
    adapter = "cinelibre.db.supabase" if getattr(settings, "supabase_url", None) else "cinelibre.db.postgres"
    importlib.import_module(adapter)


def _clear_secret_caches() -> None:
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
