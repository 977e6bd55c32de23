"""template.yaml's operations block (issue 11): the alarms watch the very metrics the ingest handler publishes,
every function has an errors and a throttles alarm, all notify one SNS topic (an email when given), and a
failed scheduled invocation lands in a queue. cfn-lint over the whole template is tests/deploy/test_template.py."""

from __future__ import annotations

import pytest

from cinelibre.ingest.handler import RUN_OUTCOMES
from tests.deploy.cloudformation import Deployment, load_template

FUNCTIONS = ("AuthFunction", "SearchFunction", "RecommendFunction", "IngestFunction")


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template()


def resources_of(deployment: Deployment, kind: str) -> dict[str, dict]:
    return {
        name: deployment.resolve(resource.get("Properties", {}))
        for name, resource in deployment.template["Resources"].items()
        if resource["Type"] == kind and ("Condition" not in resource or deployment.condition(resource["Condition"]))
    }


def test_ingest_outcome_alarms_watch_the_metrics_the_handler_publishes(template):
    deployment = Deployment(template)
    alarms = resources_of(deployment, "AWS::CloudWatch::Alarm")
    namespace = deployment.environment("IngestFunction")["POWERTOOLS_METRICS_NAMESPACE"]
    service = deployment.environment("IngestFunction")["POWERTOOLS_SERVICE_NAME"]
    watched = {
        alarm["MetricName"]
        for alarm in alarms.values()
        if alarm["Namespace"] == namespace and alarm["Dimensions"] == [{"Name": "service", "Value": service}]
    }
    assert {f"IngestRuns{o.title()}" for o in RUN_OUTCOMES if o != "succeeded"} | {"IngestRunsAbandoned"} <= watched
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == ["<AlarmTopic>"] and alarm["TreatMissingData"] == "notBreaching"


def test_every_function_has_errors_and_throttles_alarms(template):
    alarms = resources_of(Deployment(template), "AWS::CloudWatch::Alarm").values()
    for function in FUNCTIONS:
        dimensions = [{"Name": "FunctionName", "Value": f"<{function}>"}]
        metrics = {a["MetricName"] for a in alarms if a["Namespace"] == "AWS/Lambda" and a["Dimensions"] == dimensions}
        assert metrics == {"Errors", "Throttles"}, function


@pytest.mark.parametrize(("email", "subscribed"), [("", False), ("ops@example.org", True)])
def test_the_email_parameter_subscribes_to_the_topic(template, email, subscribed):
    subscriptions = resources_of(Deployment(template, AlarmEmail=email), "AWS::SNS::Subscription")
    assert bool(subscriptions) is subscribed
    if subscribed:
        (subscription,) = subscriptions.values()
        assert subscription["Endpoint"] == email and subscription["Protocol"] == "email"


def test_a_failed_scheduled_invocation_goes_to_the_failure_queue(template):
    deployment = Deployment(template)
    config = deployment.function_property("IngestFunction", "EventInvokeConfig")
    assert config["MaximumRetryAttempts"] == 0
    assert config["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS", "Destination": "<IngestFailureQueue.Arn>"
    }
    schedule = deployment.function_property("IngestFunction", "Events")["DailyIngest"]["Properties"]
    assert schedule["DeadLetterConfig"] == {"Arn": "<IngestFailureQueue.Arn>"}
