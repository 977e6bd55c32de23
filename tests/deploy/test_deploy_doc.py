"""docs/deploy.md says what the template and the apps really do: its tables are compared with template.yaml
and with the routes of the three FastAPI apps, and every path it names exists."""

from __future__ import annotations

import re

import pytest

from tests.deploy.cloudformation import REPO_ROOT, Deployment, load_template

DOC = (REPO_ROOT / "docs" / "deploy.md").read_text()


def table_rows(heading_text: str) -> list[list[str]]:
    """The rows of the first table after the line containing `heading_text` (header and rule skipped)."""
    after = DOC.split(heading_text, 1)[1]
    lines = [line.strip() for line in after.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template()


def test_route_table_matches_each_apps_routes(settings) -> None:
    from cinelibre.api import auth, recommend, search

    apps = {"AuthFunctionUrl": auth, "SearchFunctionUrl": search, "RecommendFunctionUrl": recommend}
    documented: dict[str, set[tuple[str, str]]] = {url: set() for url in apps}
    for url, method, path, _auth in table_rows("## Which paths live behind which URL"):
        documented[url].add((method, path))
    for url, module in apps.items():
        schema = module.create_app().openapi()["paths"]
        served = {(method.upper(), path) for path, item in schema.items() if path != "/" for method in item}
        assert documented[url] == served, url


def test_parameter_table_matches_the_template(template: dict) -> None:
    rows = table_rows("### Parameters")
    documented = {name: default for name, default, _meaning in rows}
    parameters = template["Parameters"]
    assert set(documented) == set(parameters)
    for name, default in documented.items():
        expected = parameters[name].get("Default", "")
        assert default == (str(expected) if expected != "" else "(empty)"), name


def test_ssm_table_names_every_secret_the_functions_read(template: dict) -> None:
    documented = {row[0] for row in table_rows("3. **The secrets**")}
    readable = set()
    for deployment in (Deployment(template), Deployment(template, SupabaseUrl="https://x.supabase.co")):
        for logical_id in deployment.functions():
            readable |= deployment.ssm_parameters_readable(logical_id)
    assert documented == readable


def test_function_table_matches_the_template(template: dict) -> None:
    deployment = Deployment(template)
    for name, memory, timeout, layers, _package in table_rows("### What each function gets"):
        logical_id = f"{name.title()}Function"
        assert memory == f"{deployment.function_property(logical_id, 'MemorySize')} MB"
        assert timeout == f"{deployment.function_property(logical_id, 'Timeout')} s"
        attached = template["Resources"][logical_id]["Properties"].get("Layers", [])
        assert layers == ("ModelLayer" if attached else "none")


def test_paths_named_in_the_doc_exist() -> None:
    folders = "src|functions|layers|supabase|events|bench|docs|tests"
    repo_path = rf"(?:{folders})/[\w./<>-]*|template\.yaml|samconfig\.toml"
    named = re.findall(rf"`({repo_path})`", DOC)
    linked = re.findall(r"\]\(\.\./([^)]+)\)", DOC)
    assert named and linked
    for path in set(named) | set(linked):
        if "<" in path:
            continue  # a pattern such as functions/<name>/Makefile: checked below
        assert (REPO_ROOT / path).exists(), path
    for function in ("auth", "search", "recommend", "ingest"):
        assert (REPO_ROOT / "functions" / function / "Makefile").is_file()
