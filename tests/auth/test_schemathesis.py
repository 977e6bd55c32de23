"""A small schemathesis run inside the suite: the auth function's app (ASGI, real database) against its own
OpenAPI schema, checking for server errors and for answers the schema does not document. The full run with
every check, anonymous and authenticated, over all three functions is bench/schemathesis_api.py (its counts
are in docs/benchmarks.md)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_the_auth_function_answers_as_its_schema_says(settings, db):
    from cinelibre.api.auth import create_app

    app = create_app(settings.model_copy(update={"rate_limits_enabled": False, "bcrypt_rounds": 10}))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def answers_as_documented(case) -> None:
            case.call_and_validate(checks=CHECKS)

        answers_as_documented()
        tested.append(operation.label)
    assert len(tested) >= 13, tested
