"""`cinelibre embed TEXT...` prints one JSON array of 384 floats per line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import typer
from typer.testing import CliRunner

from cinelibre.cli import embed as embed_command

CINELIBRE = Path(sys.executable).with_name("cinelibre")


def _app() -> typer.Typer:
    app = typer.Typer()
    embed_command.register(app)

    @app.command()
    def version() -> None:  # a second command keeps typer from collapsing the app into `embed`
        """(test only)"""

    return app


def test_embed_prints_one_vector_per_text() -> None:
    result = CliRunner().invoke(_app(), ["embed", "space opera", "a heist in Mumbai"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    vectors = [json.loads(line) for line in lines]
    assert len(vectors) == 2
    assert [len(v) for v in vectors] == [384, 384]
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] != vectors[1]


def test_embed_without_layer_fails_with_the_reason(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CINELIBRE_MODEL_PATH", str(tmp_path / "no-layer"))
    from cinelibre.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(_app(), ["embed", "space opera"])
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "layer is missing" in result.stderr and "make layer" in result.stderr


def test_installed_command_prints_a_384_float_vector() -> None:
    completed = subprocess.run(
        [str(CINELIBRE), "embed", "space opera"], capture_output=True, text=True, timeout=120, check=False
    )

    assert completed.returncode == 0, completed.stderr
    (line,) = completed.stdout.splitlines()
    vector = json.loads(line)
    assert len(vector) == 384 and all(isinstance(x, float) for x in vector)
    assert abs(np.linalg.norm(vector) - 1.0) < 1e-5
