"""Package one Lambda function for `sam build` (BuildMethod: makefile): the core package with only the extras
that function imports, as manylinux x86_64 CPython 3.13 wheels, plus its `app.py`.

Run by functions/<name>/Makefile as
    python3.13 functions/build_function.py --extras api,embed --handler-dir functions/search \
        --out "$ARTIFACTS_DIR"

Why a script rather than SAM's own Python builder: that builder installs one requirements.txt per CodeUri; it
cannot install the core package from the repository root with per-function extras, nor leave out what the
dependencies declare or carry but no code path of the functions ever loads (UNUSED_DISTRIBUTIONS,
UNUSED_FILES). tests/deploy/test_sam_build.py proves each omission safe: it imports every built handler,
with the layer mounted as in Lambda, and answers a sample event with it.

Versions: every dependency comes from uv.lock, exported for the function's extras with its hashes
(`uv export --frozen`), so `sam build` deploys exactly what `make setup` installed and the tests ran against,
whatever the index serves that day. Without uv.lock (or uv) it falls back to pinning what the running
environment has installed, and says so.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LAMBDA_PYTHON = (3, 13)
# Lambda's python3.13 runtime is Amazon Linux 2023 (glibc 2.34): any manylinux wheel up to 2_34 runs there.
# pip matches platform tags literally (it expands only the legacy manylinux2014 alias), so list them all.
LAMBDA_PLATFORMS = (
    *(f"manylinux_2_{minor}_x86_64" for minor in range(34, 16, -1)),
    "manylinux2014_x86_64",
)

# Distributions that a dependency declares but that no code path of the functions imports.
UNUSED_DISTRIBUTIONS = {
    # huggingface_hub (required by fastembed) declares its `hf` command line and its download backends;
    # fastembed imports only its cache helpers at module level, and the model comes from the layer.
    "typer": "huggingface_hub's command line",
    "click": "the command lines of huggingface_hub (via typer) and httpx",
    "rich": "typer's terminal output",
    "shellingham": "typer's shell detection",
    "markdown-it-py": "rich's markdown rendering",
    "mdurl": "markdown-it-py's URL helpers",
    "pygments": "rich's syntax highlighting",
    "hf-xet": "huggingface_hub's Xet download backend (nothing is downloaded at run time)",
    "fsspec": "huggingface_hub's HfFileSystem",
    # onnxruntime declares these for its model conversion and optimisation tools, not for inference.
    "protobuf": "onnxruntime's model tools",
    "flatbuffers": "onnxruntime's model tools",
    # supabase-auth asks for pyjwt[crypto]. PyJWT imports cryptography only when installed and needs it only
    # for RS/ES/EdDSA keys; CineLibre signs HS256 (hmac, standard library) and never verifies Supabase user
    # tokens against JWKS, the one supabase-auth feature that needs it.
    "cryptography": "PyJWT's and supabase-auth's asymmetric-key algorithms",
    "cffi": "cryptography's bindings",
    "pycparser": "cffi's parser",
    # email-validator resolves DNS only to check deliverability; CineLibre validates syntax only
    # (check_deliverability=False in cinelibre.auth.accounts).
    "dnspython": "email-validator's deliverability check",
}

# Files inside shipped distributions that nothing loads at run time (globs relative to the package root).
UNUSED_FILES = {
    "**/tests": "test suites shipped inside wheels (numpy's alone are 16 MB)",
    "**/*.pyi": "type stubs, read only by type checkers",
    "onnxruntime/transformers": "onnxruntime's transformer-model optimiser (a tool)",
    "onnxruntime/quantization": "onnxruntime's quantisation tool (used to build the model, not to run it)",
    "onnxruntime/tools": "onnxruntime's model conversion tools",
    # The Python binding (onnxruntime_pybind11_state) links ONNX Runtime statically; this 35 MB copy is
    # the C API library for native programs and is never mapped by a Python process.
    "onnxruntime/capi/libonnxruntime.so.*": "ONNX Runtime's C API library for native programs",
    # Pillow ships only because fastembed's image-embedding module imports PIL.Image at module level;
    # CineLibre never opens an image. PIL.Image needs PIL/_imaging and the libraries it links (libtiff,
    # libjpeg, libopenjp2, libxcb and theirs); these optional codecs and font and colour engines, and the
    # libraries that only they link, are loaded only when such an image or font is opened.
    "PIL/_avif.*": "Pillow's AVIF codec",
    "PIL/_webp.*": "Pillow's WebP codec",
    "PIL/_imagingft.*": "Pillow's FreeType text rendering",
    "PIL/_imagingcms.*": "Pillow's LittleCMS colour management",
    "pillow.libs/libavif-*": "linked by Pillow's AVIF codec only",
    "pillow.libs/libwebp*": "linked by Pillow's WebP codec only",
    "pillow.libs/libsharpyuv-*": "linked by libwebp only",
    "pillow.libs/libfreetype-*": "linked by Pillow's FreeType module only",
    "pillow.libs/libharfbuzz-*": "linked by libfreetype only",
    "pillow.libs/libbrotli*": "linked by libfreetype only",
    "pillow.libs/libpng16-*": "linked by libfreetype only (PIL's PNG support is its own zlib code)",
    "pillow.libs/liblcms2-*": "linked by Pillow's colour management only",
    # Parts of the core package that only run on a developer's machine.
    "cinelibre/cli": "the local `cinelibre` command (typer is not shipped)",
    "cinelibre/demo": "the demo catalog, loaded only into the local embedded database",
    "cinelibre/ingest/replay.py": "the local server replaying recorded TMDB and Google Books answers",
    "cinelibre/migrations": "the SQL migrations: `cinelibre migrate` or `supabase db push` apply them, no function",
}


def find_uv() -> str | None:
    """uv on PATH, or beside this interpreter (the project's virtual environment installs it)."""
    beside = Path(sys.executable).with_name("uv")
    return shutil.which("uv") or (str(beside) if beside.exists() else None)


def locked_requirements(extras: list[str], scratch: Path) -> Path | None:
    """The function's dependencies exported from uv.lock: exact versions, every artefact's sha256, without the
    project itself and without UNUSED_DISTRIBUTIONS. None when there is no lock (or no uv) to export from."""
    uv = find_uv()
    if uv is None or not (REPO_ROOT / "uv.lock").exists():
        return None
    requirements = scratch / "locked-requirements.txt"
    args = [uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--format", "requirements-txt",
            "--no-header", "--no-annotate", "--output-file", str(requirements)]
    for extra in extras:
        args += ["--extra", extra]
    for name in sorted(UNUSED_DISTRIBUTIONS):
        args += ["--no-emit-package", name]
    subprocess.run(args, check=True, cwd=REPO_ROOT, capture_output=True)  # noqa: S603 (uv, our arguments)
    return requirements


def install_locked(requirements: Path, wheel: Path, out: Path) -> int:
    """Install the exported requirements (hashes required) for Lambda's platform, then the core package's own
    wheel without dependencies. Returns how many distributions the export named."""
    run_pip("install", "--quiet", "--no-deps", "--no-compile", "--require-hashes", "--target", str(out),
            *platform_options(), "--requirement", str(requirements))
    run_pip("install", "--quiet", "--no-deps", "--no-compile", "--target", str(out), str(wheel))
    shutil.rmtree(out / "bin", ignore_errors=True)
    return sum(1 for line in requirements.read_text().splitlines() if line and not line[0].isspace()
               and not line.startswith("#"))


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def run_pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)  # noqa: S603 (our interpreter, our arguments)


def platform_options() -> list[str]:
    version = "{}.{}".format(*LAMBDA_PYTHON)
    abi = "cp{}{}".format(*LAMBDA_PYTHON)
    options = ["--only-binary=:all:", "--implementation", "cp", "--python-version", version, "--abi", abi]
    for platform in LAMBDA_PLATFORMS:
        options += ["--platform", platform]
    return options


def build_core_wheel(wheel_dir: Path) -> Path:
    run_pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheel_dir), str(REPO_ROOT))
    (wheel,) = wheel_dir.glob("cinelibre-*.whl")
    return wheel


def write_installed_versions(path: Path) -> bool:
    """Pin to this interpreter's installed versions when it is the project's environment."""
    try:
        importlib.metadata.distribution("cinelibre")
    except importlib.metadata.PackageNotFoundError:
        return False
    pins = sorted(
        f"{canonical_name(dist.metadata['Name'])}=={dist.version}"
        for dist in importlib.metadata.distributions()
        if canonical_name(dist.metadata["Name"]) != "cinelibre"
    )
    path.write_text("\n".join(pins) + "\n")
    return True


def resolve(requirement: str, constraints: Path | None, scratch: Path) -> list[dict]:
    """Resolve the function's dependencies for Lambda's platform without installing anything."""
    report = scratch / "resolution.json"
    args = ["install", "--quiet", "--dry-run", "--report", str(report), "--target", str(scratch / "unused")]
    if constraints is not None:
        args += ["--constraint", str(constraints)]
    run_pip(*args, *platform_options(), requirement)
    return json.loads(report.read_text())["install"]


def pinned_requirements(resolution: list[dict]) -> tuple[list[str], list[str]]:
    """Requirement lines (exact artefact URL and sha256) for what ships, and the names left out."""
    ship: list[str] = []
    left_out: list[str] = []
    for item in resolution:
        name = canonical_name(item["metadata"]["name"])
        if name in UNUSED_DISTRIBUTIONS:
            left_out.append(name)
            continue
        download = item["download_info"]
        sha256 = download["archive_info"]["hashes"]["sha256"]
        ship.append(f"{name} @ {download['url']} --hash=sha256:{sha256}")
    return ship, left_out


def install(requirements: list[str], out: Path, scratch: Path) -> None:
    requirements_file = scratch / "requirements.txt"
    requirements_file.write_text("\n".join(requirements) + "\n")
    run_pip(
        "install",
        "--quiet",
        "--no-deps",
        "--no-compile",
        "--require-hashes",
        "--target",
        str(out),
        *platform_options(),
        "--requirement",
        str(requirements_file),
    )
    # Console scripts: nothing in Lambda runs them.
    shutil.rmtree(out / "bin", ignore_errors=True)


def remove_unused_files(out: Path) -> int:
    removed = 0
    for pattern in UNUSED_FILES:
        for path in sorted(out.glob(pattern), reverse=True):
            if path.is_dir():
                removed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
                shutil.rmtree(path)
            elif path.exists():
                removed += path.stat().st_size
                path.unlink()
    return removed


# Run in a fresh interpreter with `-S` (no site-packages) whose only import root is the package, so it also
# proves that every shipped top-level module imports from the package alone.
_IMPORT_EVERY_TOP_LEVEL = """
import importlib, importlib.metadata, json, sys
root = sys.argv[1]
sys.path.insert(0, root)
names = set()
for dist in importlib.metadata.distributions(path=[root]):
    names.update((dist.read_text("top_level.txt") or "").split())
    for file in dist.files or ():
        head = file.parts[0]
        if len(file.parts) > 1 or head.endswith(".py"):
            names.add(head.removesuffix(".py"))
failed = {}
for name in sorted(n for n in names if n.isidentifier() and not n.startswith("_")):
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
loaded = [getattr(module, "__file__", None) for module in list(sys.modules.values())]
print(json.dumps({"failed": failed, "files": [f for f in loaded if f and f.startswith(root)]}))
"""


def compile_cold_start_modules(out: Path) -> dict[str, str]:
    """Ship bytecode for what importing the package's modules loads; returns the modules that failed.

    /var/task is read-only, so a module without a .pyc is compiled again on every cold start (measured here:
    about 1 s more for the search function's imports, several at Lambda's CPU share). Compiling only what
    module import loads keeps that gain for about half the size of compiling everything; code that
    only runs lazily compiles in memory on first use. unchecked-hash .pyc files stay valid after the zip
    round trip, which does not keep source mtimes exactly.
    """
    import py_compile

    with tempfile.TemporaryDirectory(prefix="cinelibre-import-probe-") as elsewhere:
        probe = subprocess.run(  # noqa: S603 (our interpreter, our code)
            [sys.executable, "-S", "-P", "-c", _IMPORT_EVERY_TOP_LEVEL, str(out.resolve())],
            check=True,
            capture_output=True,
            text=True,
            cwd=elsewhere,
            timeout=600,
        )
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    sources = {Path(f) for f in result["files"] if f.endswith(".py")}
    sources.update((out / "cinelibre").rglob("*.py"))
    sources.add(out / "app.py")
    for source in sources:
        py_compile.compile(
            str(source), doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
        )
    return result["failed"]


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--extras", default="", help="comma-separated extras of the core package, e.g. api,embed"
    )
    parser.add_argument(
        "--handler-dir", type=Path, required=True, help="functions/<name>, which holds app.py"
    )
    parser.add_argument("--out", type=Path, required=True, help="the artefacts directory that SAM passes")
    args = parser.parse_args(argv)

    if sys.version_info[:2] != LAMBDA_PYTHON:
        parser.error(
            "run with Python {}.{} (the Lambda runtime): bytecode is version-specific".format(*LAMBDA_PYTHON)
        )
    handler = args.handler_dir / "app.py"
    if not handler.is_file():
        parser.error(f"{handler} does not exist")

    if REPO_ROOT.is_relative_to(args.out.resolve()):
        parser.error(f"--out {args.out} holds the repository; it must be a build folder (it is emptied)")
    # pip --target skips what is already there: start from an empty folder so nothing stale ships.
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="cinelibre-package-") as scratch_name:
        scratch = Path(scratch_name)
        wheel = build_core_wheel(scratch / "wheels")
        extras_list = [extra for extra in args.extras.split(",") if extra]
        locked = locked_requirements(extras_list, scratch)
        if locked is not None:
            shipped = 1 + install_locked(locked, wheel, args.out)
            left_out = [f"{', '.join(sorted(UNUSED_DISTRIBUTIONS))} (where required)"]
        else:
            print("note: no uv.lock (or no uv) to export from; pinning what this environment has installed",
                  file=sys.stderr)
            constraints: Path | None = scratch / "constraints.txt"
            if not write_installed_versions(constraints):
                constraints = None
                print(
                    f"note: {sys.executable} is not the project's environment, so the newest matching"
                    " versions are packaged rather than the tested ones",
                    file=sys.stderr,
                )
            extras = f"[{args.extras}]" if args.extras else ""
            resolution = resolve(f"cinelibre{extras} @ {wheel.as_uri()}", constraints, scratch)
            requirements, left_out = pinned_requirements(resolution)
            install(requirements, args.out, scratch)
            shipped = len(requirements)
    removed_bytes = remove_unused_files(args.out)
    shutil.copy2(handler, args.out / "app.py")
    failed_imports = compile_cold_start_modules(args.out)

    name = args.handler_dir.resolve().name
    print(
        f"{name}: {shipped} distributions, {tree_size(args.out) / 1e6:.1f} MB unzipped;"
        f" left out {', '.join(sorted(left_out)) or 'nothing'};"
        f" removed {removed_bytes / 1e6:.1f} MB of unused files"
    )
    for module, error in failed_imports.items():
        # Not fatal: some distributions ship optional top-level modules (e.g. for another platform).
        print(f"{name}: note: `import {module}` fails in the package alone ({error})")


if __name__ == "__main__":
    main()
