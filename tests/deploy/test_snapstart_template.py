"""issue 14: SnapStart on the HTTP functions (search, auth, recommend), as CloudFormation will receive it after the SAM
transform: published versions with SnapStart, an alias, and the Function URL (and its public permissions) on that
alias, so the URL always serves the latest published, snapshotted version and never $LATEST."""

from __future__ import annotations

from typing import Any

import pytest
from samtranslator.translator.transform import transform

from tests.deploy.cloudformation import load_template

SNAPSTART_FUNCTIONS = {"SearchFunction", "AuthFunction", "RecommendFunction"}


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def transformed(monkeypatch_module: pytest.MonkeyPatch) -> dict[str, Any]:
    template = load_template()
    for resource in template["Resources"].values():
        # The transform wants packaged code locations; what `sam deploy` uploads does not matter here.
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/function.zip"
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = "s3://bucket/layer.zip"
    return transform(template, {}, _NoManagedPolicies())["Resources"]


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        yield patch


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def test_snapstart_functions_publish_versions_behind_an_alias(transformed: dict[str, Any]) -> None:
    functions = _of_type(transformed, "AWS::Lambda::Function")
    aliases = _of_type(transformed, "AWS::Lambda::Alias")
    for logical_id, function in functions.items():
        snapstart = function["Properties"].get("SnapStart")
        if logical_id not in SNAPSTART_FUNCTIONS:
            assert snapstart is None, logical_id
            continue
        assert snapstart == {"ApplyOn": "PublishedVersions"}
        (alias,) = [a for a in aliases.values() if a["Properties"]["FunctionName"] == {"Ref": logical_id}]
        assert alias["Properties"]["Name"] == "live"


@pytest.mark.parametrize("function", sorted(SNAPSTART_FUNCTIONS))
def test_the_function_url_and_its_public_permissions_target_the_alias(
    transformed: dict[str, Any], function: str
) -> None:
    (alias_id,) = [
        name
        for name, alias in _of_type(transformed, "AWS::Lambda::Alias").items()
        if alias["Properties"]["FunctionName"] == {"Ref": function}
    ]
    url = transformed[f"{function}Url"]
    assert url["Type"] == "AWS::Lambda::Url"
    assert url["Properties"]["TargetFunctionArn"] == {"Ref": alias_id}
    permissions = [
        p for p in _of_type(transformed, "AWS::Lambda::Permission").values()
        if p["Properties"].get("Principal") == "*" and function in str(p["Properties"]["FunctionName"])
    ]  # fmt: skip
    assert permissions and all(p["Properties"]["FunctionName"] == {"Ref": alias_id} for p in permissions)
