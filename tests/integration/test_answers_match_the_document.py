"""Real answers of the API validate against the schemas the OpenAPI document declares for their
operation and status (issue 10 §4): success bodies, and problem+json for every refusal."""

from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator

from pilothouse.api.meta import openapi_document
from tests.support.specs import spec

WORKFLOW = {
    "StartAt": "Wait",
    "States": {
        "Wait": {"Type": "Wait", "Seconds": 3600, "Next": "Done"},
        "Done": {"Type": "Pass", "End": True},
    },
}


def _operation(method: str, path: str) -> dict:
    """The document's operation whose route matches ``path``."""
    for route, item in openapi_document()["paths"].items():
        pattern = "^" + re.sub(r"{[^}]+}", "[^/]+", route) + "$"
        if method.lower() in item and re.match(pattern, path):
            return item[method.lower()]
    raise AssertionError(f"no operation {method} {path}")


def conforms(method: str, path: str, answer: tuple) -> dict:
    status, headers, body = answer
    doc = openapi_document()
    response = _operation(method, path)["responses"].get(str(status))
    assert response is not None, f"{method} {path} answered an undocumented {status}: {body}"
    if status == 204:
        assert body is None
        return {}
    media = headers["content-type"].split(";")[0]
    schema = response["content"][media]["schema"]
    validator = Draft202012Validator({**schema, "components": doc["components"]})
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, (method, path, status, errors[:5])
    return body


def test_workflow_and_execution_answers_match_the_document(api):
    c = conforms
    created = c("POST", "/v1/workflows", api.post("/v1/workflows", {"name": "wf", "definition": WORKFLOW}))
    assert created["name"] == "wf"
    c("PUT", "/v1/workflows/wf", api.call("PUT", "/v1/workflows/wf", {"definition": WORKFLOW}))
    c("GET", "/v1/workflows/wf", api.get("/v1/workflows/wf"))
    c("GET", "/v1/workflows/wf", api.get("/v1/workflows/wf", query="version=1"))
    c("GET", "/v1/workflows", api.get("/v1/workflows", query="limit=1"))
    started = c(
        "POST", "/v1/workflows/wf/executions", api.post("/v1/workflows/wf/executions", {"name": "e1"})
    )
    assert started["status"] == "RUNNING"
    c("GET", "/v1/workflows/wf/executions", api.get("/v1/workflows/wf/executions"))
    c("GET", "/v1/workflows/wf/executions/e1", api.get("/v1/workflows/wf/executions/e1"))
    c("GET", "/v1/workflows/wf/executions/e1/history", api.get("/v1/workflows/wf/executions/e1/history"))
    c("POST", "/v1/workflows/wf/executions/e1/stop", api.post("/v1/workflows/wf/executions/e1/stop"))
    c("POST", "/v1/workflows/wf/executions/e1/redrive", api.post("/v1/workflows/wf/executions/e1/redrive"))
    # refusals: a used name, an unknown token, a definition that is not ASL
    c("POST", "/v1/workflows", api.post("/v1/workflows", {"name": "wf", "definition": WORKFLOW}))
    c("POST", "/v1/task-tokens/success", api.post("/v1/task-tokens/success", {"token": "nope", "output": {}}))
    c("POST", "/v1/workflows", api.post("/v1/workflows", {"name": "x", "definition": {"States": {}}}))
    c("DELETE", "/v1/workflows/wf", api.delete("/v1/workflows/wf"))
    c("GET", "/v1/workflows/wf", api.get("/v1/workflows/wf"))


def test_component_key_freeze_and_meta_answers_match_the_document(api):
    c = conforms
    c("GET", "/v1/health", api.get("/v1/health", key=None))
    c("GET", "/v1/openapi.json", api.get("/v1/openapi.json", key=None))
    c("POST", "/v1/components", api.post("/v1/components", spec("web")))
    c("POST", "/v1/components", api.post("/v1/components", spec("web")))  # 409
    c("GET", "/v1/components/web", api.get("/v1/components/web"))
    c("GET", "/v1/components", api.get("/v1/components"))
    c("GET", "/v1/components/web/events", api.get("/v1/components/web/events"))
    c("POST", "/v1/components/web/stop", api.post("/v1/components/web/stop"))  # 409: not running
    c("GET", "/v1/components/nope", api.get("/v1/components/nope"))  # 404
    c("GET", "/v1/components", api.get("/v1/components", key=None))  # 401
    key = c("POST", "/v1/api-keys", api.post("/v1/api-keys", {"name": "ci", "role": "viewer"}))
    c("GET", "/v1/components", api.get("/v1/components", key=key["key"]))
    c("POST", "/v1/components", api.post("/v1/components", spec("db"), key=key["key"]))  # 403
    c("GET", "/v1/api-keys", api.get("/v1/api-keys"))
    c("DELETE", f"/v1/api-keys/{key['id']}", api.delete(f"/v1/api-keys/{key['id']}"))
    c("GET", "/v1/audit", api.get("/v1/audit"))
    freeze = {"scope": "component", "target": "web", "reason": "r"}
    c("POST", "/v1/freezes", api.post("/v1/freezes", freeze))
    c("POST", "/v1/freezes", api.post("/v1/freezes", freeze))  # 200: frozen already
    c("GET", "/v1/freezes", api.get("/v1/freezes"))
    c("DELETE", "/v1/freezes/component/web", api.delete("/v1/freezes/component/web"))
    c("DELETE", "/v1/freezes/component/web", api.delete("/v1/freezes/component/web"))  # 404
    c("GET", "/v1/deployments", api.get("/v1/deployments"))
    c(
        "GET",
        "/v1/deployments/0000000000000000000-00000000",
        api.get("/v1/deployments/0000000000000000000-00000000"),
    )
    c(
        "POST",
        "/v1/components",
        api.call("POST", "/v1/components", "{", headers={"content-type": "text/plain"}),
    )
    c("DELETE", "/v1/components/web", api.delete("/v1/components/web"))


@pytest.mark.parametrize("body", ["{", "[]", '{"name": 1}'])
def test_malformed_bodies_are_documented_problems(api, body):
    conforms("POST", "/v1/components", api.call("POST", "/v1/components", body))


def test_a_replayed_key_creation_matches_the_document_without_its_secret(api):
    body, headers = {"name": "ci", "role": "viewer"}, {"Idempotency-Key": "k-1"}
    first = conforms("POST", "/v1/api-keys", api.post("/v1/api-keys", body, headers=headers))
    replay = conforms("POST", "/v1/api-keys", api.post("/v1/api-keys", body, headers=headers))
    assert first["key"] and "key" not in replay and replay["secret_shown_once"] is True
