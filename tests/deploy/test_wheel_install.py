"""The built wheel on its own (issue 11): installed without extras into a fresh virtual environment, outside the
repository, `cinelibre --help` works and `cinelibre migrate` migrates an empty database from the migrations the
wheel carries (no source checkout to find them in)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from cinelibre.db.migrate import discover

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(  # noqa: S603 (uv and the installed command, fixed arguments)
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{' '.join(map(str, args))}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if not Path(found).exists():
        pytest.fail("uv is not installed: run `make setup`")
    return found


def test_a_plain_wheel_install_migrates_an_empty_database(uv, pg_url, tmp_path):
    wheels, venv, elsewhere = tmp_path / "wheels", tmp_path / "venv", tmp_path / "elsewhere"
    elsewhere.mkdir()
    run(uv, "build", "--wheel", "--out-dir", wheels, REPO_ROOT, cwd=REPO_ROOT)
    (wheel,) = wheels.glob("cinelibre-*.whl")
    # The core dependencies at their locked versions, with hashes, then the wheel itself: no extras.
    constraints = tmp_path / "core-requirements.txt"
    run(uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--format", "requirements-txt",
        "--output-file", constraints, cwd=REPO_ROOT)
    # The interpreter running the tests (Python 3.13); uv must never fetch one.
    run(uv, "venv", "--python", sys.executable, "--no-python-downloads", venv, cwd=elsewhere)
    python = venv / "bin" / "python"
    run(uv, "pip", "install", "--python", python, "--require-hashes", "-r", constraints, cwd=elsewhere)
    run(uv, "pip", "install", "--python", python, "--no-deps", wheel, cwd=elsewhere)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("CINELIBRE_", "SUPABASE_", "VIRTUAL_ENV"))}
    command = venv / "bin" / "cinelibre"
    assert "migrate" in run(command, "--help", cwd=elsewhere, env=env).stdout

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("drop database if exists from_wheel with (force)")
        conn.execute("create database from_wheel")
    env["DATABASE_URL"] = pg_url.replace("/cinelibre?", "/from_wheel?", 1)
    migrated = run(command, "migrate", cwd=elsewhere, env=env)
    assert f"applied {len(discover())} migration(s)" in migrated.stdout
    located = run(python, "-c", "from cinelibre.db.migrate import migrations_dir; print(migrations_dir())",
                  cwd=elsewhere, env=env).stdout.strip()
    assert located.startswith(str(venv)), "the migrations came from the installed wheel"
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        assert conn.execute("select to_regclass('public.movies')::text").fetchone()[0] == "movies"
    assert "database is up to date" in run(command, "migrate", cwd=elsewhere, env=env).stdout
