"""template.yaml: linted by cfn-lint and `sam validate --lint`, and checked for what issue 5 asks of it, as
deployed with default parameters and with the Supabase REST variant."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
from pydantic import AliasChoices

from cinelibre.cli.invoke import FUNCTION_MEMORY_MB, FUNCTION_TIMEOUTS_S
from cinelibre.settings import Settings
from tests.deploy.cloudformation import REPO_ROOT, TEMPLATE, Deployment, load_template
from tests.deploy.sam_cli import VENV_BIN, sam_environment

HTTP_FUNCTIONS = {"AuthFunction", "SearchFunction", "RecommendFunction"}
MODEL_FUNCTIONS = {"SearchFunction", "IngestFunction"}
# Each function's secrets, by the settings that name them (values are `ssm:<name>` references).
SECRETS_BY_FUNCTION = {
    "AuthFunction": {"CINELIBRE_JWT_SECRET_PARAMETER"},
    "SearchFunction": set(),
    "RecommendFunction": {"CINELIBRE_JWT_SECRET_PARAMETER"},
    "IngestFunction": {"CINELIBRE_TMDB_API_KEY_PARAMETER", "CINELIBRE_GOOGLE_BOOKS_API_KEY_PARAMETER"},
    "TrainFunction": set(),
}
# Functions sized for their work rather than the 512 MB default: memory from a template parameter.
SIZED_BY_PARAMETER = {"TrainFunction": "TrainMemorySize"}
DATABASE_SECRET = {
    False: "CINELIBRE_DATABASE_URL_PARAMETER",
    True: "CINELIBRE_SUPABASE_SERVICE_ROLE_KEY_PARAMETER",
}
SUPABASE_URL = "https://abcdefghijklmnopqrst.supabase.co"
# How the resolver below shows the distribution's domain, which exists only once deployed.
WEB_APP_ORIGIN = "https://<WebDistribution.DomainName>"


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template()


@pytest.fixture(scope="module", params=[False, True], ids=["postgres-url", "supabase-rest"])
def deployment(request: pytest.FixtureRequest, template: dict) -> Deployment:
    if request.param:
        return Deployment(template, SupabaseUrl=SUPABASE_URL)
    return Deployment(template)


def settings_environment_names() -> set[str]:
    """Every environment variable name that Settings reads."""
    prefix = Settings.model_config.get("env_prefix", "")
    names = set()
    for field_name, field in Settings.model_fields.items():
        if isinstance(field.validation_alias, AliasChoices):
            names.update(str(choice).upper() for choice in field.validation_alias.choices)
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


@pytest.fixture(scope="module")
def linters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, subprocess.Popen]]:
    """cfn-lint and `sam validate --lint`, started together: each is several seconds of one core, and pytest
    runs one test at a time on a machine with two."""
    started = {
        "cfn-lint": subprocess.Popen(  # noqa: S603 (the project's own cfn-lint, fixed arguments)
            [VENV_BIN / "cfn-lint", "--format", "parseable", str(TEMPLATE)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ),
        "sam validate": subprocess.Popen(  # noqa: S603 (the project's own sam, fixed arguments)
            [VENV_BIN / "sam", "validate", "--lint", "--template-file", str(TEMPLATE)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=REPO_ROOT, env=sam_environment(tmp_path_factory.mktemp("sam")),
        ),
    }  # fmt: skip
    yield started
    for process in started.values():
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_cfn_lint_finds_nothing(linters: dict[str, subprocess.Popen]) -> None:
    stdout, stderr = linters["cfn-lint"].communicate(timeout=600)
    assert linters["cfn-lint"].returncode == 0, stdout + stderr


def test_sam_validate_lint_passes(linters: dict[str, subprocess.Popen]) -> None:
    stdout, stderr = linters["sam validate"].communicate(timeout=600)
    assert linters["sam validate"].returncode == 0, stdout + stderr
    assert "is a valid SAM Template" in stdout + stderr


def test_python313_functions_sized_as_cinelibre_invoke_or_their_parameter(deployment: Deployment) -> None:
    functions = deployment.functions()
    assert set(functions) == {"AuthFunction", "SearchFunction", "RecommendFunction", "IngestFunction", "TrainFunction"}
    for logical_id in functions:
        name = deployment.function_property(logical_id, "CodeUri").removeprefix("functions/")
        assert deployment.function_property(logical_id, "Runtime") == "python3.13"
        # issue 14: sizes chosen from the memory table in docs/benchmarks.md; train's from its parameter (issue 9)
        if logical_id in SIZED_BY_PARAMETER:
            parameter = SIZED_BY_PARAMETER[logical_id]
            assert deployment.function_property(logical_id, "MemorySize") == deployment.parameters[parameter]
        else:
            assert deployment.function_property(logical_id, "MemorySize") == FUNCTION_MEMORY_MB[name], logical_id
        assert deployment.function_property(logical_id, "Architectures") == ["x86_64"]
        assert deployment.function_property(logical_id, "Handler") == "app.handler"
        code_uri = deployment.function_property(logical_id, "CodeUri")
        assert (REPO_ROOT / code_uri / "Makefile").is_file()
        assert deployment.template["Resources"][logical_id]["Metadata"]["BuildMethod"] == "makefile"


def test_timeouts_agree_with_cinelibre_invoke(deployment: Deployment) -> None:
    for logical_id in deployment.functions():
        name = deployment.function_property(logical_id, "CodeUri").removeprefix("functions/")
        assert deployment.function_property(logical_id, "Timeout") == FUNCTION_TIMEOUTS_S[name], logical_id
    # The ingest function must be able to stop by itself before Lambda stops it.
    ingest_timeout = deployment.function_property("IngestFunction", "Timeout")
    assert ingest_timeout > Settings.model_fields["ingest_deadline_margin_s"].default


def test_function_urls_for_the_http_functions_only(deployment: Deployment) -> None:
    for logical_id in deployment.functions():
        url_config = deployment.function_property(logical_id, "FunctionUrlConfig")
        if logical_id not in HTTP_FUNCTIONS:
            assert url_config is None
            continue
        assert url_config["AuthType"] == "NONE"  # the app checks bearer tokens itself
        # The web app's CloudFront origin comes first, then the parameter's origins.
        allowed = [WEB_APP_ORIGIN, *deployment.parameters["CorsAllowOrigins"]]
        assert deployment.resolve(url_config["Cors"]["AllowOrigins"]) == allowed
        # The app enforces the same allowlist.
        environment = deployment.environment(logical_id)
        assert environment["CINELIBRE_CORS_ORIGINS"].split(",") == allowed
        # A 429's Retry-After is readable by the web app on another origin.
        assert "retry-after" in url_config["Cors"]["ExposeHeaders"]


def test_outputs_export_each_function_url(template: dict) -> None:
    outputs = template["Outputs"]
    for logical_id in HTTP_FUNCTIONS:
        output = outputs[f"{logical_id}Url"]
        assert output["Value"] == {"Fn::GetAtt": [f"{logical_id}Url", "FunctionUrl"]}
        assert "Export" in output


def test_model_layer_goes_to_search_and_ingest_only(deployment: Deployment, template: dict) -> None:
    layer = template["Resources"]["ModelLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "layers/model"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert (REPO_ROOT / "layers" / "model" / "Makefile").is_file()
    for logical_id in deployment.functions():
        layers = template["Resources"][logical_id]["Properties"].get("Layers", [])
        expected = [{"Ref": "ModelLayer"}] if logical_id in MODEL_FUNCTIONS else []
        assert layers == expected, logical_id
        if logical_id in MODEL_FUNCTIONS:
            assert deployment.environment(logical_id)["CINELIBRE_MODEL_PATH"] == "/opt/model"


def test_ingest_runs_daily_from_an_eventbridge_schedule(template: dict) -> None:
    events = template["Resources"]["IngestFunction"]["Properties"]["Events"]
    (schedule,) = events.values()
    assert schedule["Type"] == "Schedule"  # an EventBridge rule: the events/scheduled-ingest.json shape
    assert schedule["Properties"]["Schedule"] == {"Ref": "IngestSchedule"}
    assert template["Parameters"]["IngestSchedule"]["Default"].startswith("cron(")
    for logical_id in HTTP_FUNCTIONS:
        assert "Events" not in template["Resources"][logical_id]["Properties"]


def test_training_runs_daily_after_the_ingest_with_memory_for_the_catalog(template: dict) -> None:
    from cinelibre.recommend.ease import max_ease_items
    from cinelibre.recommend.training import MEMORY_SHARE_FOR_EASE

    (schedule,) = template["Resources"]["TrainFunction"]["Properties"]["Events"].values()
    assert schedule["Type"] == "Schedule"  # the events/train-scheduled.json shape
    assert schedule["Properties"]["Schedule"] == {"Ref": "TrainSchedule"}
    ingest_hour = int(template["Parameters"]["IngestSchedule"]["Default"].split()[1])
    train_hour = int(template["Parameters"]["TrainSchedule"]["Default"].split()[1])
    assert train_hour > ingest_hour
    memory = template["Parameters"]["TrainMemorySize"]
    # The parameter's description quotes the item caps the training job computes from its memory.
    for megabytes in (memory["Default"], memory["MaxValue"]):
        cap = max_ease_items(int(megabytes * 1024**2 * MEMORY_SHARE_FOR_EASE))
        assert f"{megabytes} MB" in memory["Description"] and f"{cap:,}" in memory["Description"]


def test_reserved_concurrency_comes_from_a_parameter(template: dict) -> None:
    deployment = Deployment(template, ApiReservedConcurrency="7")
    for logical_id in HTTP_FUNCTIONS:
        assert deployment.function_property(logical_id, "ReservedConcurrentExecutions") == "7"
    assert deployment.function_property("IngestFunction", "ReservedConcurrentExecutions") == 1
    assert deployment.function_property("TrainFunction", "ReservedConcurrentExecutions") == 1
    unreserved = Deployment(template, ApiReservedConcurrency="0")
    for logical_id in deployment.functions():
        resources = unreserved.resolve(unreserved.template["Resources"][logical_id]["Properties"])
        assert "ReservedConcurrentExecutions" not in resources


def test_every_environment_variable_is_a_setting_the_code_reads(deployment: Deployment) -> None:
    known = settings_environment_names() | {"POWERTOOLS_LOG_LEVEL", "POWERTOOLS_METRICS_NAMESPACE"}
    for logical_id in deployment.functions():
        unknown = set(deployment.environment(logical_id)) - known
        assert not unknown, f"{logical_id} sets variables no code reads: {unknown}"


def test_secrets_are_ssm_references_readable_by_exactly_their_function(deployment: Deployment) -> None:
    supabase = bool(deployment.parameters["SupabaseUrl"])
    secret_values = {
        "JWT_SECRET",
        "SUPABASE_SERVICE_ROLE_KEY",
        "DATABASE_URL",
        "TMDB_API_KEY",
        "GOOGLE_BOOKS_API_KEY",
    }
    for logical_id in deployment.functions():
        environment = deployment.environment(logical_id)
        for name in environment:
            assert name.removeprefix("CINELIBRE_") not in secret_values, (
                f"{logical_id} has a secret in {name}"
            )
        references = {name for name in environment if name.endswith("_PARAMETER")}
        assert references == SECRETS_BY_FUNCTION[logical_id] | {DATABASE_SECRET[supabase]}, logical_id
        named = set()
        for name in references:
            store, _, parameter = environment[name].partition(":")
            assert store == "ssm", f"{logical_id}: {name} must reference SSM Parameter Store"
            named.add(parameter)
        # Least privilege: the function can read the parameters it names, and nothing else.
        assert deployment.ssm_parameters_readable(logical_id) == named, logical_id
        assert environment["CINELIBRE_ENV"] == "production"


def test_no_output_carries_a_secret(deployment: Deployment, template: dict) -> None:
    for name, output in template["Outputs"].items():
        value = json.dumps(deployment.resolve(output["Value"]))
        assert "ssm" not in value.lower() and "secret" not in value.lower(), name


def test_the_postgres_variant_has_no_supabase_settings(template: dict) -> None:
    deployment = Deployment(template)
    for logical_id in deployment.functions():
        environment = deployment.environment(logical_id)
        assert "SUPABASE_URL" not in environment
        assert "CINELIBRE_SUPABASE_SERVICE_ROLE_KEY_PARAMETER" not in environment
    supabase = Deployment(template, SupabaseUrl=SUPABASE_URL)
    for logical_id in supabase.functions():
        assert supabase.environment(logical_id)["SUPABASE_URL"] == SUPABASE_URL


def test_each_function_names_its_own_service(deployment: Deployment) -> None:
    names = {
        deployment.environment(logical_id)["POWERTOOLS_SERVICE_NAME"] for logical_id in deployment.functions()
    }
    assert names == {
        "cinelibre-auth", "cinelibre-search", "cinelibre-recommend", "cinelibre-ingest", "cinelibre-train"
    }


# -- web app (issue 13)
def test_the_web_app_is_a_private_bucket_behind_cloudfront_with_origin_access_control(template: dict) -> None:
    resources = template["Resources"]
    bucket = resources["WebBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    origin_access = resources["WebOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert origin_access["OriginAccessControlOriginType"] == "s3" and origin_access["SigningBehavior"] == "always"
    distribution = resources["WebDistribution"]["Properties"]["DistributionConfig"]
    (origin,) = distribution["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": ["WebBucket", "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["WebOriginAccessControl", "Id"]}
    assert distribution["DefaultRootObject"] == "index.html"
    assert distribution["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    # Only this distribution may read the bucket.
    statements = resources["WebBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (read,) = [statement for statement in statements if statement["Effect"] == "Allow"]
    assert read["Principal"] == {"Service": "cloudfront.amazonaws.com"} and read["Action"] == "s3:GetObject"
    assert "${WebDistribution}" in read["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    outputs = template["Outputs"]
    assert {"WebAppUrl", "WebBucketName", "WebDistributionId"} <= set(outputs)

