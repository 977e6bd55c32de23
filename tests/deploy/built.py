"""The built functions in .aws-sam/build/ and a way to run them as Lambda's Python runtime does; shared by
tests/deploy/test_sam_build.py and bench/bench_packaging.py.

`LambdaRuntime.invoke` starts `python -S -P tests/deploy/lambda_runtime.py` (one fresh process per cold
start) with the function's package as /var/task, a folder standing in for /opt holding its layers, boto3 as
Lambda's runtime provides it, and the environment template.yaml gives the function (plus what the caller
adds), then answers the given events in order.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.deploy.cloudformation import REPO_ROOT, Deployment, load_template

BUILD_DIR = REPO_ROOT / ".aws-sam" / "build"
EVENTS = REPO_ROOT / "events"
RUNNER = Path(__file__).with_name("lambda_runtime.py")
REGION = "eu-west-1"
# What Lambda's Python runtime provides in /var/runtime, by top-level module.
RUNTIME_TOP_LEVELS = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")


@dataclass(frozen=True)
class BuiltFunction:
    name: str
    logical_id: str
    code_dir: Path
    layer_dirs: tuple[Path, ...]
    timeout_s: int
    memory_mb: int
    environment: dict[str, str]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def unzipped_bytes(path: Path) -> int:
    """What Lambda counts against its unzipped limit: the bytes of every file."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def shipped_distributions(code_dir: Path) -> dict[str, importlib.metadata.Distribution]:
    return {canonical(d.metadata["Name"]): d for d in importlib.metadata.distributions(path=[str(code_dir)])}


def built_functions(build_dir: Path = BUILD_DIR) -> dict[str, BuiltFunction]:
    """Each function of the built template by short name (auth, search...), with its layers' folders."""
    deployment = Deployment(load_template(build_dir / "template.yaml"))
    functions = {}
    for logical_id in deployment.functions():
        layers = deployment.function_property(logical_id, "Layers") or []
        layer_dirs = tuple(
            build_dir / deployment.template["Resources"][layer.strip("<>")]["Properties"]["ContentUri"]
            for layer in layers
        )
        name = logical_id.removesuffix("Function").lower()
        functions[name] = BuiltFunction(
            name=name,
            logical_id=logical_id,
            code_dir=build_dir / deployment.function_property(logical_id, "CodeUri"),
            layer_dirs=layer_dirs,
            timeout_s=deployment.function_property(logical_id, "Timeout"),
            memory_mb=deployment.function_property(logical_id, "MemorySize"),
            environment=deployment.environment(logical_id),
        )
    return functions


def assemble_opt(functions: dict[str, BuiltFunction], opt: Path) -> Path:
    """/opt as Lambda assembles it: the contents of the layers, merged."""
    opt.mkdir(parents=True, exist_ok=True)
    for layer in {layer for function in functions.values() for layer in function.layer_dirs}:
        shutil.copytree(layer, opt, dirs_exist_ok=True)
    return opt


def runtime_packages(folder: Path) -> Path:
    """/var/runtime's boto3 (Lambda's Python runtime ships it), linked from this environment."""
    import boto3

    folder.mkdir(parents=True, exist_ok=True)
    site = Path(boto3.__file__).parents[1]
    for top_level in RUNTIME_TOP_LEVELS:
        (folder / top_level).symlink_to(site / top_level)
    return folder


class LambdaRuntime:
    """Runs built functions in fresh `python -S` processes, one per cold start."""

    def __init__(self, opt: Path, runtime: Path, scratch: Path, extra_environment: dict[str, str]) -> None:
        self.opt, self.runtime, self.scratch = opt, runtime, scratch
        self.extra_environment = extra_environment
        (scratch / "home").mkdir()
        (scratch / "tmp").mkdir()

    def environment(self, function: BuiltFunction) -> dict[str, str]:
        environment = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(self.scratch / "home"),
            "TMPDIR": str(self.scratch / "tmp"),
            # /var/task is read-only in Lambda: nothing may rely on writing bytecode next to the code.
            "PYTHONDONTWRITEBYTECODE": "1",
            "LAMBDA_TASK_ROOT": str(function.code_dir),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_LAMBDA_FUNCTION_NAME": f"cinelibre-{function.name}",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            **function.environment,
            **self.extra_environment,
        }
        if "CINELIBRE_MODEL_PATH" in function.environment:
            relative = Path(function.environment["CINELIBRE_MODEL_PATH"]).relative_to("/opt")
            environment["CINELIBRE_MODEL_PATH"] = str(self.opt / relative)
        return environment

    def invoke(self, function: BuiltFunction, events: list[dict[str, Any]]) -> dict[str, Any]:
        spec_path = self.scratch / f"{function.name}-spec.json"
        output = self.scratch / f"{function.name}-output.json"
        spec = {
            "task_root": str(function.code_dir),
            "opt": str(self.opt),
            "runtime": str(self.runtime),
            "handler": "app.handler",
            "function_name": f"cinelibre-{function.name}",
            "memory_mb": function.memory_mb,
            "timeout_s": function.timeout_s,
            "events": events,
            "output": str(output),
        }
        spec_path.write_text(json.dumps(spec))
        process = subprocess.run(
            [sys.executable, "-S", "-P", str(RUNNER), str(spec_path)],
            env=self.environment(function),
            cwd=self.scratch,
            capture_output=True,
            text=True,
            timeout=function.timeout_s + 120,
        )
        logs = f"{process.stdout[-4000:]}\n{process.stderr[-4000:]}"
        assert output.exists(), f"{function.name} did not run:\n{logs}"
        result = json.loads(output.read_text())
        import_error = result.get("import_error")
        assert import_error is None, f"{function.name} did not import:\n{import_error}\n{logs}"
        for invocation in result["invocations"]:
            assert "error" not in invocation, f"{function.name} raised {invocation['error']}\n{logs}"
        return result


def event(name: str, *, token: str | None = None, body: dict[str, Any] | None = None) -> dict[str, Any]:
    sample = json.loads((EVENTS / name).read_text())
    if token is not None:
        sample["headers"]["authorization"] = f"Bearer {token}"
    if body is not None:
        sample["body"] = json.dumps(body)
    return sample


def http_response(invocation: dict[str, Any]) -> tuple[int, Any]:
    response = invocation["response"]
    return response["statusCode"], json.loads(response["body"])
