"""The OpenAPI document (GET /v1/openapi.json) describes the whole API contract (issue 10 §4): every
operation has its answer's schema and its error statuses as problem+json with one shared Problem
schema, and every path parameter has the pattern of the names the server gives."""

from __future__ import annotations

import re

import pytest

from pilothouse.api.meta import openapi_document, path_patterns
from pilothouse.domain.answers import Problem

PROBLEM_REF = "#/components/schemas/Problem"
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _operations():
    doc = openapi_document()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield pytest.param(path, method, op, id=f"{method.upper()} {path}")


OPERATIONS = list(_operations())


def test_the_document_has_every_route_and_no_step_functions_endpoint():
    from pilothouse.api import all_operations

    doc = openapi_document()
    documented = {op["operationId"] for _, _, op in (p.values for p in OPERATIONS)}
    assert documented == {op.name for op in all_operations()}
    assert not any("states" in path.lower() for path in doc["paths"])


@pytest.mark.parametrize(("path", "method", "op"), OPERATIONS)
def test_every_operation_has_a_success_schema(path, method, op):
    successes = {s: r for s, r in op["responses"].items() if s.startswith("2")}
    assert successes, "no 2xx answer"
    for status, response in successes.items():
        if status == "204":
            assert "content" not in response
            continue
        [(media_type, content)] = response["content"].items()  # JSON, or the Prometheus text format
        assert media_type in ("application/json", "text/plain"), media_type
        schema = content["schema"]
        assert schema.get("$ref", "").startswith("#/components/schemas/"), (status, schema)


@pytest.mark.parametrize(("path", "method", "op"), OPERATIONS)
def test_every_error_status_is_problem_json_with_the_one_problem_schema(path, method, op):
    errors = {s: r for s, r in op["responses"].items() if s[0] in "45"}
    assert "400" in errors  # a malformed request, anywhere
    for status, response in errors.items():
        assert list(response["content"]) == ["application/problem+json"], status
        assert response["content"]["application/problem+json"]["schema"] == {"$ref": PROBLEM_REF}
    if op.get("security"):
        assert {"401", "403", "429"} <= set(errors)
    if method != "get":
        assert {"409", "413", "415", "422"} <= set(errors)
    if "{" in path:
        assert "404" in errors
    if any(p["in"] == "query" for p in op.get("parameters", [])):
        assert "422" in errors


@pytest.mark.parametrize(("path", "method", "op"), OPERATIONS)
def test_every_path_parameter_has_a_pattern(path, method, op):
    names = re.findall(r"{([^}]+)}", path)
    params = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "path"}
    assert set(params) == set(names)
    for name, param in params.items():
        assert param["required"] is True
        assert param["schema"]["pattern"] == path_patterns()[name]
        re.compile(param["schema"]["pattern"])


def test_the_problem_schema_has_the_rfc_9457_members_and_allows_extras():
    schema = openapi_document()["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance", "request_id", "errors"} <= set(
        schema["properties"]
    )
    assert {"type", "title", "status", "detail"} <= set(schema["required"])
    assert schema.get("additionalProperties", True) is not False
    field = openapi_document()["components"]["schemas"]["ProblemField"]
    assert {"field", "in", "message", "type"} <= set(field["properties"])
    # and it reads what the runtime answers
    from pilothouse.errors import NotFound, ValidationFailed

    Problem.model_validate(NotFound("no such thing").problem(instance="/v1/x", request_id="r"))
    bad = ValidationFailed("name: bad", [{"field": "name", "in": "body", "message": "bad", "type": "x"}])
    assert Problem.model_validate(bad.problem(request_id="r")).errors[0].in_ == "body"


def test_no_validation_models_of_powertools_are_left():
    schemas = openapi_document()["components"]["schemas"]
    assert not {"HTTPValidationError", "ValidationError", "ResponseValidationError"} & set(schemas)


def test_pages_have_a_nullable_next_cursor_and_cursors_are_strings():
    doc = openapi_document()
    schemas = doc["components"]["schemas"]
    pages = [name for name, s in schemas.items() if "next_cursor" in s.get("properties", {})]
    assert {
        "ComponentPage",
        "DeploymentPage",
        "ExecutionPage",
        "WorkflowPage",
        "ApiKeyPage",
        "AuditPage",
    } <= set(pages)
    for name in pages:
        cursor = schemas[name]["properties"]["next_cursor"]
        assert {"type": "string"} in cursor["anyOf"] and {"type": "null"} in cursor["anyOf"], name
        assert "next_cursor" in schemas[name]["required"], name
    for path, _method, op in (p.values for p in OPERATIONS):
        for param in op.get("parameters", []):
            if param["name"] == "cursor":
                assert param["schema"]["type"] == "string", path


def test_keys_show_their_secret_only_in_the_create_answer():
    schemas = openapi_document()["components"]["schemas"]
    assert "key" in schemas["NewApiKeyAnswer"]["properties"]
    for name in ("ApiKeyAnswer", "ApiKeyPage"):
        assert "key" not in schemas[name].get("properties", {})
        assert "hash" not in schemas[name].get("properties", {})


def test_rules_the_models_check_by_pattern_or_length_are_in_their_schemas():
    """Given the rules schemathesis found the server checking beyond the document, then each is in
    the model's JSON Schema, so a schema-valid body is not refused for it."""
    from pilothouse.api.secrets import NewSecret, SecretRotation
    from pilothouse.domain.alerts import EventRule, MetricRule
    from pilothouse.domain.components import VERSION_PATTERN
    from pilothouse.domain.metrics import STAT_PATTERN
    from pilothouse.domain.notifications import EVENT_PATTERN, Subscription
    from pilothouse.domain.systems import SystemDeployRequest, SystemUpdateRequest

    for model in (NewSecret, SecretRotation):
        assert model.model_json_schema()["properties"]["value"]["minLength"] == 1
    assert MetricRule.model_json_schema()["properties"]["stat"]["pattern"] == STAT_PATTERN
    assert Subscription.model_json_schema()["properties"]["events"]["items"]["pattern"] == EVENT_PATTERN
    for field in ("events", "resolve_on"):
        assert EventRule.model_json_schema()["properties"][field]["items"]["pattern"] == EVENT_PATTERN
    for model in (SystemDeployRequest, SystemUpdateRequest):
        versions = model.model_json_schema()["properties"]["versions"]
        assert versions["additionalProperties"]["pattern"] == VERSION_PATTERN
    get_backup = openapi_document()["paths"]["/v1/backups/{backup_id}"]["get"]
    assert "422" in get_backup["responses"]  # a malformed backup id


@pytest.mark.parametrize(
    "stat", ["Sum", "Average", "SampleCount", "p50", "p99.9", "p100", "p0", "x", "p101", "avg", ""]
)
def test_the_stat_pattern_accepts_what_check_stat_accepts(stat):
    from pilothouse.domain.metrics import STAT_PATTERN, check_stat

    try:
        check_stat(stat)
        accepted = True
    except ValueError:
        accepted = False
    assert bool(re.match(STAT_PATTERN, stat)) is accepted
