"""`cinelibre invoke FUNCTION --event FILE`: run one function's Lambda handler in this process on an event
file and print the response, as `sam local invoke` would (which needs Docker).

As with `sam local invoke`, standard output carries only the response (one JSON document, or Lambda's error
document when the handler raises) and the function's logs and metrics go to standard error, so the output
pipes into `jq`. The deadline that the handler reads from its context is the function's timeout, reported
but not enforced. The function uses this machine's settings (the embedded database unless DATABASE_URL or
Supabase settings are given), not the production environment of template.yaml.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer

from cinelibre.settings import SOURCE_ROOT, assume_development

FUNCTIONS_DIR = SOURCE_ROOT / "functions"
# Seconds, as in template.yaml (tests/deploy checks that they agree): the handler sees the same deadline
# through context.get_remaining_time_in_millis() as in Lambda.
FUNCTION_TIMEOUTS_S = {"auth": 10, "search": 15, "recommend": 15, "ingest": 900, "train": 900}
MEMORY_SIZE_MB = 512
# MemorySize as in template.yaml (tests/deploy checks that they agree); MEMORY_SIZE_MB is the Globals default.
FUNCTION_MEMORY_MB = {"auth": 1024, "search": 1024, "recommend": MEMORY_SIZE_MB, "ingest": MEMORY_SIZE_MB}
LOCAL_REGION = "local"
LOCAL_ACCOUNT = "000000000000"

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LocalLambdaContext:
    """The attributes and method of Lambda's Python context object that handlers and Powertools use."""

    function_name: str
    timeout_s: float
    memory_limit_in_mb: int = MEMORY_SIZE_MB
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    identity: None = None
    client_context: None = None
    _deadline: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handler(function: str, functions_dir: Path = FUNCTIONS_DIR) -> Handler:
    """Import functions/<function>/app.py by path (its directory is not a package) and return `handler`."""
    path = functions_dir / function / "app.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (is this a source checkout of CineLibre?)")
    spec = importlib.util.spec_from_file_location(f"cinelibre_function_{function}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler = getattr(module, "handler", None)
    if not callable(handler):
        raise ImportError(f"{path} has no callable `handler`")
    return handler


def lambda_error_document(exc: BaseException, request_id: str) -> dict[str, Any]:
    """The body Lambda returns for an unhandled exception."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__)),
    }


@contextlib.contextmanager
def output_to_stderr() -> Iterator[None]:
    """Send everything the function prints or logs to standard error while it runs.

    Log handlers (Powertools' among them) keep the stdout they saw when they were created, so redirecting
    sys.stdout alone would not move them.
    """
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    moved: list[logging.StreamHandler] = []
    for candidate in loggers:
        for handler in getattr(candidate, "handlers", ()):
            if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stdout, sys.__stdout__):
                moved.append(handler)
    previous = [handler.setStream(sys.stderr) for handler in moved]
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        for handler, stream in zip(moved, previous, strict=True):
            if stream is not None:
                handler.setStream(stream)


def run(handler: Handler, event: dict[str, Any], context: LocalLambdaContext) -> Any:
    """One invocation, with the function's own output kept off standard output."""
    with output_to_stderr():
        return handler(event, context)


def _read_event(path: Path) -> dict[str, Any]:
    try:
        event = json.loads(path.read_text())
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="--event") from None
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{path} is not JSON: {exc}", param_hint="--event") from None
    if not isinstance(event, dict):
        raise typer.BadParameter(f"{path} must hold a JSON object (a Lambda event)", param_hint="--event")
    return event


def invoke(
    function: Annotated[str, typer.Argument(help=f"One of: {', '.join(FUNCTION_TIMEOUTS_S)}.")],
    event: Annotated[
        Path,
        typer.Option(
            "--event", "-e", help="Lambda event JSON file, e.g. one from events/.", show_default=False
        ),
    ],
    timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds before the handler's deadline; default: the function's timeout in template.yaml."
        ),
    ] = None,
) -> None:
    """Run FUNCTION's Lambda handler in this process on an event file and print its response (stdout)."""
    if function not in FUNCTION_TIMEOUTS_S:
        choices = ", ".join(FUNCTION_TIMEOUTS_S)
        raise typer.BadParameter(
            f"unknown function {function!r}; choose one of {choices}", param_hint="FUNCTION"
        )
    payload = _read_event(event)
    # Like `make run`, a local tool: development unless CINELIBRE_ENV says otherwise.
    assume_development()
    context = LocalLambdaContext(
        function_name=f"cinelibre-{function}",
        timeout_s=timeout if timeout is not None else FUNCTION_TIMEOUTS_S[function],
        memory_limit_in_mb=FUNCTION_MEMORY_MB.get(function, MEMORY_SIZE_MB),
    )
    try:
        with output_to_stderr():
            handler = load_handler(function, FUNCTIONS_DIR)
    except Exception as exc:
        # What Lambda answers when the handler module cannot be imported.
        document = lambda_error_document(exc, context.aws_request_id)
        document["errorType"] = "Runtime.ImportModuleError"
        document["errorMessage"] = f"Unable to import module 'app': {exc}"
        typer.echo(json.dumps(document))
        raise typer.Exit(code=1) from None
    try:
        response = run(handler, payload, context)
    except Exception as exc:
        typer.echo(json.dumps(lambda_error_document(exc, context.aws_request_id)))
        raise typer.Exit(code=1) from None
    typer.echo(json.dumps(response))


def register(app: typer.Typer) -> None:
    app.command("invoke")(invoke)
