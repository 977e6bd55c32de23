"""The README's commands and paths are real: every path exists, every command is a Make target or a
`cinelibre` subcommand, and the quickstart is exactly two commands, the second being what CI runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def _quickstart_commands() -> list[str]:
    section = README.split("## Quickstart", 1)[1].split("##", 1)[0]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.strip().splitlines() if line.strip()]


def test_quickstart_is_two_commands_and_ci_runs_the_second():
    assert _quickstart_commands() == ["make run", "make test"]
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.MULTILINE)


def test_make_targets_named_in_the_readme_exist():
    makefile = (REPO / "Makefile").read_text()
    for target in set(re.findall(r"`make ([a-z-]+)`", README)) | {"run", "test"}:
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target


def test_paths_in_the_readme_exist():
    paths = re.findall(r"`((?:src|functions|layers|supabase|events|bench|docs|tests)/[\w./-]*|template\.yaml|"
                       r"\.env\.example|src/cinelibre/settings\.py)`", README)
    links = re.findall(r"\]\(((?:docs|bench)/[^)]+)\)", README)
    assert paths and links
    for path in set(paths) | set(links):
        assert (REPO / path).exists(), path


def test_cli_commands_in_the_readme_exist():
    cli = Path(sys.executable).with_name("cinelibre")
    help_text = subprocess.run([str(cli), "--help"], capture_output=True, text=True, timeout=60).stdout
    for command in set(re.findall(r"`cinelibre ([a-z]+)", README)):
        assert re.search(rf"│ {command}\b", help_text), command
