"""functions/build_function.py's own steps, on small made-up inputs (the real `sam build` is in
test_sam_build.py): what it leaves out, what it removes, the bytecode it ships, and what it refuses."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.deploy.cloudformation import REPO_ROOT

SCRIPT = REPO_ROOT / "functions" / "build_function.py"
_spec = importlib.util.spec_from_file_location("build_function", SCRIPT)
assert _spec and _spec.loader
build_function = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_function)


def resolved(name: str, version: str = "1.0") -> dict:
    return {
        "metadata": {"name": name, "version": version},
        "download_info": {
            "url": f"https://files.example/{name}-{version}-py3-none-any.whl",
            "archive_info": {"hashes": {"sha256": "ab" * 32}},
        },
    }


def test_left_out_distributions_are_named_canonically_with_a_reason() -> None:
    for name, reason in build_function.UNUSED_DISTRIBUTIONS.items():
        assert name == build_function.canonical_name(name)
        assert reason.strip()
    for pattern, reason in build_function.UNUSED_FILES.items():
        assert reason.strip(), pattern


def test_requirements_pin_url_and_hash_and_skip_unused_distributions() -> None:
    resolution = [resolved("fastembed", "0.9.1"), resolved("Typer"), resolved("hf_xet")]
    resolution.append(resolved("numpy", "2.5.5"))
    ship, left_out = build_function.pinned_requirements(resolution)
    assert ship == [
        f"fastembed @ https://files.example/fastembed-0.9.1-py3-none-any.whl --hash=sha256:{'ab' * 32}",
        f"numpy @ https://files.example/numpy-2.5.5-py3-none-any.whl --hash=sha256:{'ab' * 32}",
    ]
    assert left_out == ["typer", "hf-xet"]


def test_platform_options_ask_for_lambda_wheels_only() -> None:
    options = build_function.platform_options()
    assert "--only-binary=:all:" in options
    assert options[options.index("--python-version") + 1] == "3.13"
    platforms = [options[i + 1] for i, option in enumerate(options) if option == "--platform"]
    assert "manylinux_2_34_x86_64" in platforms and "manylinux2014_x86_64" in platforms
    assert not any("2_35" in p or "aarch64" in p or "macosx" in p for p in platforms)


def test_unused_files_go_and_the_rest_stays(tmp_path: Path) -> None:
    files = {
        "numpy/_core/tests/test_umath.py": 1000,
        "numpy/_core/multiarray.py": 10,
        "numpy/__init__.pyi": 100,
        "onnxruntime/capi/libonnxruntime.so.1.32.0": 5000,
        "onnxruntime/capi/onnxruntime_pybind11_state.cpython-313-x86_64-linux-gnu.so": 20,
        "onnxruntime/transformers/optimizer.py": 300,
        "PIL/_avif.cpython-313-x86_64-linux-gnu.so": 40,
        "PIL/_imaging.cpython-313-x86_64-linux-gnu.so": 30,
        "pillow.libs/libavif-c6062d5f.so.16.4.2": 400,
        "pillow.libs/libtiff-20b7e810.so.6.3.0": 50,
    }
    for name, size in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
    removed = build_function.remove_unused_files(tmp_path)
    assert removed == 1000 + 100 + 5000 + 300 + 40 + 400
    remaining = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert remaining == {
        "numpy/_core/multiarray.py",
        "onnxruntime/capi/onnxruntime_pybind11_state.cpython-313-x86_64-linux-gnu.so",
        "PIL/_imaging.cpython-313-x86_64-linux-gnu.so",
        "pillow.libs/libtiff-20b7e810.so.6.3.0",
    }


def test_bytecode_is_shipped_for_what_module_import_loads(tmp_path: Path) -> None:
    """A made-up package: `eager` imports `helper` at import time; `lazy` is only imported inside a function;
    `broken` cannot be imported. Bytecode goes to what import loads, unchecked-hash (mtime-free)."""
    package = tmp_path / "package"
    modules = {
        "eager/__init__.py": "from eager import helper\n",
        "eager/helper.py": "VALUE = 1\n",
        "eager/lazy.py": "VALUE = 2\n",
        "broken.py": "import module_that_does_not_exist\n",
        "cinelibre/__init__.py": "",
        "app.py": "def handler(event, context):\n    return {}\n",
    }
    for name, source in modules.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    dist_info = package / "eager-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: eager\nVersion: 1.0\n")
    record = ("eager/__init__.py", "eager/helper.py", "eager/lazy.py", "broken.py")
    (dist_info / "RECORD").write_text("".join(f"{name},,\n" for name in record))

    failed = build_function.compile_cold_start_modules(package)

    assert set(failed) == {"broken"}
    assert "module_that_does_not_exist" in failed["broken"]
    compiled = {p.relative_to(package).as_posix() for p in package.rglob("*.pyc")}
    tag = sys.implementation.cache_tag
    assert compiled == {
        f"eager/__pycache__/__init__.{tag}.pyc",
        f"eager/__pycache__/helper.{tag}.pyc",
        f"cinelibre/__pycache__/__init__.{tag}.pyc",
        f"__pycache__/app.{tag}.pyc",
    }
    # PEP 552 flags: bit 0 = hash-based, bit 1 = check_source; unchecked-hash is 0b01.
    header = (package / f"eager/__pycache__/helper.{tag}.pyc").read_bytes()[4:8]
    assert int.from_bytes(header, "little") == 0b01


@pytest.mark.parametrize("out", [REPO_ROOT, REPO_ROOT.parent])
def test_refuses_to_empty_a_folder_holding_the_repository(out: Path, tmp_path: Path) -> None:
    handler_dir = tmp_path / "fn"
    handler_dir.mkdir()
    (handler_dir / "app.py").write_text("def handler(event, context):\n    return {}\n")
    with pytest.raises(SystemExit) as raised:
        build_function.main(["--handler-dir", str(handler_dir), "--out", str(out)])
    assert raised.value.code == 2
    assert (REPO_ROOT / "template.yaml").is_file()
