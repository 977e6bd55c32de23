"""`cinelibre invoke FUNCTION --event FILE`: the real handlers on the sample events in events/, and the
Lambda-like behaviour around them (stdout holds only the response, Lambda's error documents, the deadline)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cinelibre.cli import invoke
from tests.deploy.cloudformation import REPO_ROOT

EVENTS = REPO_ROOT / "events"
# A typer app holding only this command, as `cinelibre` will (a group, so the subcommand name is needed).
_CLI_SOURCE = """
import pathlib, sys, typer
from cinelibre.cli import invoke
{setup}
app = typer.Typer()
app.callback()(lambda: None)
invoke.register(app)
app()
"""


def plain(text: str) -> str:
    """Terminal text without the box typer draws around errors, its words joined again."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def cli_app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    invoke.register(app)
    return app


def run_cli(*args: str, setup: str = "") -> subprocess.CompletedProcess[str]:
    """The command in its own process, as a person runs it: real stdout and stderr."""
    return subprocess.run(
        [sys.executable, "-c", _CLI_SOURCE.format(setup=setup), "invoke", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=dict(os.environ),
        timeout=300,
    )


@pytest.fixture
def functions_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A functions/ folder of small handlers, for the behaviour around any handler."""
    handlers = {
        "deadline": """
            def handler(event, context):
                return {"remaining_ms": context.get_remaining_time_in_millis(), "name": context.function_name,
                        "memory": context.memory_limit_in_mb, "echo": event}
        """,
        "failing": """
            def handler(event, context):
                raise ValueError("the item is not in the catalog")
        """,
        "unimportable": """
            import module_that_does_not_exist
            def handler(event, context):
                return {}
        """,
        "chatty": """
            import logging, sys
            logging.basicConfig(stream=sys.stdout, level=logging.INFO, force=True)
            def handler(event, context):
                print("a print from the function")
                logging.getLogger("chatty").info("a log line from the function")
                return {"statusCode": 200}
        """,
    }
    for name, source in handlers.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.py").write_text(textwrap.dedent(source))
        monkeypatch.setitem(invoke.FUNCTION_TIMEOUTS_S, name, 5)
    monkeypatch.setattr(invoke, "FUNCTIONS_DIR", tmp_path)
    return tmp_path


@pytest.fixture
def event_file(tmp_path: Path) -> Path:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"detail": {"sources": ["tmdb"]}}))
    return path


def test_auth_health_event_answers_200_with_only_the_response_on_stdout(settings) -> None:
    result = run_cli("auth", "--event", str(EVENTS / "auth-health.json"))
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["ready"] is True
    assert body["checks"]["database"]["ok"] is True
    # The function's EMF metrics went to stderr, as `sam local invoke` shows logs apart from the response.
    assert '"ColdStart"' in result.stderr
    assert "ColdStart" not in result.stdout


def test_register_then_login_through_the_sample_events(settings, db) -> None:
    registered = run_cli("auth", "--event", str(EVENTS / "auth-register.json"))
    assert registered.returncode == 0, registered.stderr
    assert json.loads(registered.stdout)["statusCode"] == 201
    logged_in = run_cli("auth", "--event", str(EVENTS / "auth-login.json"))
    assert logged_in.returncode == 0, logged_in.stderr
    response = json.loads(logged_in.stdout)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["access_token"]


def test_recommend_popular_event_answers_200(settings) -> None:
    result = run_cli("recommend", "--event", str(EVENTS / "recommend-popular.json"))
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["statusCode"] == 200
    assert "items" in json.loads(response["body"]) or "results" in json.loads(response["body"])


def test_search_semantic_event_answers_200(settings, embedder) -> None:
    result = run_cli("search", "--event", str(EVENTS / "search-semantic.json"))
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["statusCode"] == 200, response
    body = json.loads(response["body"])
    sample = json.loads((EVENTS / "search-semantic.json").read_text())
    assert body["query"] == sample["queryStringParameters"]["q"]
    assert body["count"] == len(body["results"])


def test_context_carries_the_function_deadline(functions_dir: Path, event_file: Path) -> None:
    result = CliRunner().invoke(
        cli_app(), ["invoke", "deadline", "--event", str(event_file), "--timeout", "3"]
    )
    assert result.exit_code == 0, result.stderr
    response = json.loads(result.stdout)
    assert 0 < response["remaining_ms"] <= 3000
    assert response["name"] == "cinelibre-deadline"
    assert response["memory"] == invoke.MEMORY_SIZE_MB
    assert response["echo"] == {"detail": {"sources": ["tmdb"]}}


def test_default_deadline_is_the_template_timeout(functions_dir: Path, event_file: Path) -> None:
    result = CliRunner().invoke(cli_app(), ["invoke", "deadline", "--event", str(event_file)])
    assert result.exit_code == 0, result.stderr
    assert 4000 < json.loads(result.stdout)["remaining_ms"] <= 5000


def test_a_raising_handler_prints_lambdas_error_document(functions_dir: Path, event_file: Path) -> None:
    result = CliRunner().invoke(cli_app(), ["invoke", "failing", "--event", str(event_file)])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["errorType"] == "ValueError"
    assert document["errorMessage"] == "the item is not in the catalog"
    assert document["requestId"]
    assert any("raise ValueError" in frame for frame in document["stackTrace"])


def test_an_unimportable_handler_is_a_runtime_import_error(functions_dir: Path, event_file: Path) -> None:
    result = CliRunner().invoke(cli_app(), ["invoke", "unimportable", "--event", str(event_file)])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["errorType"] == "Runtime.ImportModuleError"
    assert "module_that_does_not_exist" in document["errorMessage"]


def test_function_output_is_kept_off_stdout(functions_dir: Path, event_file: Path) -> None:
    setup = f"invoke.FUNCTIONS_DIR = pathlib.Path({str(functions_dir)!r})\n"
    setup += "invoke.FUNCTION_TIMEOUTS_S['chatty'] = 5"
    result = run_cli("chatty", "--event", str(event_file), setup=setup)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"statusCode": 200}
    assert "a print from the function" in result.stderr
    assert "a log line from the function" in result.stderr


def test_unknown_function_is_a_usage_error(event_file: Path) -> None:
    result = CliRunner().invoke(cli_app(), ["invoke", "billing", "--event", str(event_file)])
    assert result.exit_code == 2
    assert "unknown function 'billing'" in plain(result.stderr)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read"), ("{not json", "is not JSON"), ("[1, 2]", "must hold a JSON object")],
)
def test_bad_event_files_are_usage_errors(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "event.json"
    if content is not None:
        path.write_text(content)
    result = CliRunner().invoke(cli_app(), ["invoke", "auth", "--event", str(path)])
    assert result.exit_code == 2
    assert message in plain(result.stderr)


def test_every_function_has_sample_events() -> None:
    for function in invoke.FUNCTION_TIMEOUTS_S:
        prefix = "scheduled-ingest" if function == "ingest" else f"{function}-"
        samples = sorted(EVENTS.glob(f"{prefix}*.json"))
        assert samples, f"events/ has no sample event for {function}"
        for sample in samples:
            assert isinstance(json.loads(sample.read_text()), dict), sample
