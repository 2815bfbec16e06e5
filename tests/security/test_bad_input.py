"""Hostile request bodies and cursors get problem+json, after authentication, and are audited
(issue 17 §2)."""

from __future__ import annotations

import base64

import pytest


def _deep(depth: int) -> str:
    return '{"name": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_body_is_422_naming_the_body(api, depth):
    """Given an admin, when a body nests `depth` levels, then 422 problem+json names the body
    (no RecursionError, no 5xx) and the refusal is audited."""
    status, headers, body = api.post("/v1/components", _deep(depth))
    assert status == 422, body
    assert headers["content-type"] == "application/problem+json"
    assert body["errors"][0]["field"] == "body" and "nests deeper" in body["detail"]
    audit = api.get("/v1/audit")[2]["items"]
    assert audit[0]["operation"] == "register_component" and audit[0]["status"] == 422


def test_deep_body_without_a_key_is_401_first(api):
    """Given no key, when a deep body arrives, then the answer is 401 (authentication comes first)."""
    status, _, body = api.post("/v1/components", _deep(50_000), key=None)
    assert status == 401, body


def test_deep_body_from_a_viewer_is_403_first(api, services):
    """Given a viewer, when it sends a deep body to a deployer operation, then 403."""
    from pilothouse.services.keys import create_key

    viewer = create_key(services, name="v", role="viewer", created_by="t")[0]
    assert api.post("/v1/components", _deep(50_000), key=viewer)[0] == 403


def test_oversized_body_is_413(api, services):
    """Given an admin, when the body exceeds max_body_bytes, then 413 problem+json naming the body."""
    big = '{"name": "' + "x" * (services.settings.max_body_bytes + 10) + '"}'
    status, headers, body = api.post("/v1/components", big)
    assert status == 413 and body["field"] == "body", body


def test_deep_body_on_a_route_without_a_body_model(api):
    """Given a mutating route whose body is optional, when a deep body arrives, then 422 too."""
    status, _, body = api.post("/v1/components/ghost/stop", _deep(10_000))
    assert status == 422 and body["errors"][0]["field"] == "body", body


@pytest.mark.parametrize(
    "cursor",
    [
        base64.urlsafe_b64encode(b"[" * 100_000 + b"]" * 100_000).decode(),
        "A" * 100_000,
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
    ],
)
def test_hostile_cursor_is_400_naming_the_cursor(api, cursor):
    """Given an admin, when a list gets a deep, huge or foreign cursor, then 400 names `cursor`."""
    status, headers, body = api.get("/v1/components", query=f"cursor={cursor}")
    assert status == 400, body
    assert body["field"] == "cursor"


def test_anonymous_refusals_are_counted_not_appended(api):
    """Given no key, when 300 mutating requests are refused, then the audit trail grows by one
    record per operation and minute, whose count says how many were refused."""
    before = len(api.get("/v1/audit", query="limit=500")[2]["items"])
    for i in range(300):
        assert api.post("/v1/components", {"name": f"x{i}"}, key=None)[0] == 401
    for _ in range(20):
        assert (
            api.post("/v1/api-keys", {"name": "x", "role": "admin"}, key="ph_nope_forged-secret-xxxxxxx")[0]
            == 401
        )
    items = api.get("/v1/audit", query="limit=500")[2]["items"]
    added = items[: len(items) - before]
    assert 2 <= len(added) <= 4, added  # a minute boundary may split a burst in two
    counts = {}
    for record in added:
        counts[record["operation"]] = counts.get(record["operation"], 0) + record["count"]
    assert counts == {"register_component": 300, "create_api_key": 20}, added


def test_a_body_that_is_not_json_is_415_after_auth(api):
    """Given form, multipart, text or other JSON-ish media types (a bare `curl -d`), then 415
    problem+json naming Content-Type for an admin, and 401 without a key; JSON with a charset is fine."""
    kinds = (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "text/plain",
        "application/merge-patch+json",
    )
    for content_type in kinds:
        status, headers, body = api.post("/v1/components", "a=1", headers={"content-type": content_type})
        assert status == 415 and body["field"] == "Content-Type", body
        assert headers["content-type"] == "application/problem+json"
        assert api.post("/v1/components", "a=1", headers={"content-type": content_type}, key=None)[0] == 401
    charset = {"content-type": "application/json; charset=utf-8"}
    assert api.post("/v1/components/ghost/stop", "{}", headers=charset)[0] == 404


def test_a_function_without_the_route_answers_problem_json_with_a_request_id(pool):
    """Given an HTTP function invoked for a path it does not serve (as API Gateway may with a
    greedy route), then 404 problem+json with X-Request-Id, in the function runtime itself."""
    from pilothouse.runtime.events import http_event

    event = http_event("GET", "/v1/nowhere", query="", headers={}, body=b"", route_key="GET /v1/nowhere")
    result = pool.invoke("GetComponentFunction", event)
    assert result["statusCode"] == 404
    headers = {k.lower(): v for k, v in result["headers"].items()}
    assert headers["content-type"] == "application/problem+json" and headers["x-request-id"]


def test_hostile_task_tokens_are_refused_cleanly(api):
    """Given an admin, when a task token decodes to nested JSON or is huge, then 404 TaskDoesNotExist
    (nested) or 422 naming the token (too long), never a 5xx."""
    nested = base64.urlsafe_b64encode(b"[" * 380 + b"]" * 380).decode() + ".x"
    status, _, body = api.post("/v1/task-tokens/heartbeat", {"token": nested})
    assert status == 404 and "TaskDoesNotExist" in body["detail"], (status, body)
    status, _, body = api.post("/v1/task-tokens/heartbeat", {"token": "A" * 100_000})
    assert status == 422 and body["errors"][0]["field"] == "token", (status, body)


def test_parse_token_bounds_what_it_decodes():
    """Given tokens that reach the service by other paths (task messages), when one is nested
    deeply or huge, then parse_token answers NotFound, never RecursionError."""
    import pytest as _pytest

    from pilothouse.errors import NotFound
    from pilothouse.services.executions import parse_token

    for token in (base64.urlsafe_b64encode(b"[" * 100_000 + b"]" * 100_000).decode() + ".x", "A" * 10_000):
        with _pytest.raises(NotFound):
            parse_token(token)


def test_json_inside_a_string_field_is_bounded_too(api):
    """Given JSON text nested 100,000 deep inside a string field (an execution's input, a workflow
    definition sent as text), then 422 naming the field, never a RecursionError 500."""
    deep = "[" * 100_000 + "]" * 100_000
    status, _, body = api.post("/v1/workflows", {"name": "deep", "definition": deep})
    assert status == 422 and body["errors"][0]["field"] == "definition", (status, body)
    flow = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    assert api.post("/v1/workflows", {"name": "flat", "definition": flow})[0] == 201
    status, _, body = api.post("/v1/workflows/flat/executions", {"input": deep})
    assert status == 422 and body["errors"][0]["field"] == "input", (status, body)
