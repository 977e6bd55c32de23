"""The auth function's OpenAPI schema, read through its Lambda handler, documents what the issue asks (item 8):
400 for an undecodable body, 429 with its Retry-After header, and `format: email` on every address field."""

from __future__ import annotations

import pytest


@pytest.fixture
def schema(auth_client) -> dict:
    response = auth_client.get("/openapi.json")
    assert response.status == 200
    return response.json()


def test_every_auth_operation_documents_429_with_retry_after(schema):
    operations = [(path, method, op) for path, ops in schema["paths"].items() if path.startswith("/auth")
                  for method, op in ops.items()]
    assert len(operations) == 12
    for path, method, operation in operations:
        limited = operation["responses"].get("429")
        assert limited is not None, (method, path)
        assert limited["headers"]["Retry-After"]["schema"]["type"] == "integer", (method, path)
        assert limited["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")


def test_operations_with_a_body_document_400_and_413(schema):
    with_body = [(path, method, op) for path, ops in schema["paths"].items()
                 for method, op in ops.items() if "requestBody" in op]
    assert {(path, method) for path, method, _ in with_body} >= {
        ("/auth/register", "post"), ("/auth/login", "post"), ("/auth/password/forgot", "post"),
        ("/auth/refresh", "post"), ("/auth/me", "delete")}
    for path, method, operation in with_body:
        assert {"400", "413", "422"} <= set(operation["responses"]), (method, path)


def test_address_fields_are_format_email(schema):
    components = schema["components"]["schemas"]
    for model in ("RegisterRequest", "LoginRequest", "PasswordForgotRequest"):
        assert components[model]["properties"]["email"]["format"] == "email", model
