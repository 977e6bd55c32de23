"""Reading template.yaml the way CloudFormation would for one set of parameters: enough of the intrinsic
functions (Ref, Fn::Sub, Fn::Join, Fn::Select, Fn::Split, Fn::If and the condition functions) to know each
function's environment and policies, so tests check what a deployment would really get."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
PSEUDO_PARAMETERS = {
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "cinelibre",
}
_NO_VALUE = object()


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    template, errors = decode(str(path))
    if errors or template is None:
        raise ValueError(f"cannot parse {path}: {errors}")
    return template


class Deployment:
    """The template with parameter values chosen: defaults unless overridden."""

    def __init__(self, template: dict[str, Any], **overrides: str) -> None:
        self.template = template
        self.parameters: dict[str, Any] = dict(PSEUDO_PARAMETERS)
        for name, spec in template.get("Parameters", {}).items():
            value = overrides.pop(name, spec.get("Default"))
            if value is None:
                raise ValueError(f"parameter {name} has no default: pass a value")
            if spec["Type"] == "CommaDelimitedList" and isinstance(value, str):
                value = value.split(",")
            self.parameters[name] = value
        if overrides:
            raise ValueError(f"unknown parameters {sorted(overrides)}")

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if not _is_intrinsic(value):
            resolved = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in resolved.items() if item is not _NO_VALUE}
        ((function, argument),) = value.items()
        match function:
            case "Ref":
                if argument == "AWS::NoValue":
                    return _NO_VALUE
                if argument in self.parameters:
                    return self.parameters[argument]
                return f"<{argument}>"  # a resource: its physical id is only known once deployed
            case "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                names = {**self.parameters, **{k: self.resolve(v) for k, v in variables.items()}}
                return re.sub(
                    r"\$\{([^}!]+)\}", lambda m: str(names.get(m.group(1), f"<{m.group(1)}>")), text
                )
            case "Fn::Join":
                separator, items = argument
                return separator.join(str(item) for item in self.resolve(items))
            case "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(self.resolve(index))]
            case "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
            case "Fn::If":
                name, when_true, when_false = argument
                return self.resolve(when_true if self.condition(name) else when_false)
            case "Fn::Equals":
                left, right = (self.resolve(item) for item in argument)
                return str(left) == str(right)
            case "Fn::Not":
                return not self.resolve(argument[0])
            case "Condition":
                return self.condition(argument)
            case "Fn::GetAtt":
                return f"<{'.'.join(argument) if isinstance(argument, list) else argument}>"
        raise NotImplementedError(f"{function} is not resolved by these tests")

    def functions(self) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.template["Resources"].items()
            if resource["Type"] == "AWS::Serverless::Function"
        }

    def function_property(self, logical_id: str, name: str) -> Any:
        """A property of the function, falling back to Globals as SAM does (maps are merged)."""
        own = self.template["Resources"][logical_id]["Properties"].get(name)
        shared = self.template.get("Globals", {}).get("Function", {}).get(name)
        if isinstance(own, dict) and isinstance(shared, dict):
            return self.resolve(_merge(shared, own))
        return self.resolve(own if own is not None else shared)

    def environment(self, logical_id: str) -> dict[str, str]:
        environment = self.function_property(logical_id, "Environment") or {}
        return {name: str(value) for name, value in environment.get("Variables", {}).items()}

    def ssm_parameters_readable(self, logical_id: str) -> set[str]:
        """Names of the SSM parameters the function's policies let it read (ssm:GetParameter)."""
        prefix = "arn:aws:ssm:eu-west-1:123456789012:parameter"
        names: set[str] = set()
        for policy in self.function_property(logical_id, "Policies") or []:
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                if statement["Effect"] != "Allow" or "ssm:GetParameter" not in actions:
                    continue
                resources = statement["Resource"]
                for arn in resources if isinstance(resources, list) else [resources]:
                    if not arn.startswith(prefix):
                        raise AssertionError(
                            f"{logical_id} may read SSM resources outside this account: {arn}"
                        )
                    names.add(arn.removeprefix(prefix))
        return names


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and not _is_intrinsic(value):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _is_intrinsic(value: dict[str, Any]) -> bool:
    if len(value) != 1:
        return False
    (key,) = value
    return key in ("Ref", "Condition") or key.startswith("Fn::")
