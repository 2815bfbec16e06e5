"""The answer models the OpenAPI document shows (domain/records.py) describe the real answers."""

from __future__ import annotations

import pytest

from pilothouse.api.meta import openapi_document
from pilothouse.domain.answers import (
    ApiKeyAnswer,
    ApiKeyPage,
    AuditPage,
    ComponentAnswer,
    ComponentEventPage,
    ComponentPage,
    DeploymentAnswer,
    DeploymentEventPage,
    DeploymentPage,
    ExecutionAnswer,
    FreezeList,
    NewApiKeyAnswer,
)
from tests.support import deploying
from tests.support.deploying import comp, running, update

# the shared deployment fixtures; every test here runs on the fake revision provider
services, provider, run = deploying.services, deploying.provider, deploying.run
pytestmark = pytest.mark.usefixtures("provider")


def test_component_answers_validate_against_their_models(api, run, provider):
    running(api, run)
    ComponentAnswer.model_validate(comp(api))
    accepted = update(
        api, {"version": "2.0.0", "strategy": {"type": "canary", "percentage": 25, "interval_seconds": 0}}
    )
    assert accepted["operation"]["params"]["_steps"]  # the plan shows where it always did
    ComponentAnswer.model_validate(accepted)
    ComponentAnswer.model_validate(comp(api))
    ComponentPage.model_validate(api.get("/v1/components")[2])
    ComponentEventPage.model_validate(api.get("/v1/components/web/events")[2])


def test_deployment_execution_and_freeze_answers_validate_against_their_models(api, run, provider):
    running(api, run)
    update(api, {"version": "2.0.0", "strategy": {"type": "canary", "percentage": 25, "interval_seconds": 0}})
    run()
    page = DeploymentPage.model_validate(api.get("/v1/deployments")[2])
    dep = page.items[0]
    DeploymentAnswer.model_validate(api.get(f"/v1/deployments/{dep.id}")[2])
    DeploymentEventPage.model_validate(api.get(f"/v1/deployments/{dep.id}/events")[2])
    status, _, execution = api.get(f"/v1/workflows/{dep.workflow}/executions/{dep.execution}")
    assert status == 200, execution
    ExecutionAnswer.model_validate(execution)
    assert api.post("/v1/freezes", {"scope": "environment", "target": "production", "reason": "r"})[0] == 201
    FreezeList.model_validate(api.get("/v1/freezes")[2])


def test_key_and_audit_answers_validate_against_their_models(api):
    status, _, created = api.post("/v1/api-keys", {"name": "ci", "role": "viewer"})
    assert status == 201, created
    new = NewApiKeyAnswer.model_validate(created)
    assert "hash" not in created and new.key.startswith(new.prefix)
    ApiKeyPage.model_validate(api.get("/v1/api-keys")[2])
    ApiKeyAnswer.model_validate(api.delete(f"/v1/api-keys/{new.id}")[2])
    AuditPage.model_validate(api.get("/v1/audit")[2])


@pytest.mark.parametrize(
    ("path", "method", "status", "model"),
    [
        ("/v1/components/{name}", "get", "200", "ComponentAnswer"),
        ("/v1/components", "get", "200", "ComponentPage"),
        ("/v1/components", "post", "201", "ComponentAnswer"),
        ("/v1/components/{name}/update", "post", "202", "ComponentAnswer"),
        ("/v1/components/{name}/events", "get", "200", "ComponentEventPage"),
        ("/v1/api-keys", "get", "200", "ApiKeyPage"),
        ("/v1/audit", "get", "200", "AuditPage"),
        ("/v1/deployments/{deployment_id}", "get", "200", "DeploymentAnswer"),
        ("/v1/deployments", "get", "200", "DeploymentPage"),
        ("/v1/workflows/{workflow}/executions/{execution}", "get", "200", "ExecutionAnswer"),
    ],
)
def test_the_openapi_document_shows_the_answer_models(path, method, status, model):
    doc = openapi_document()
    content = doc["paths"][path][method]["responses"][status]["content"]["application/json"]
    assert content["schema"] == {"$ref": f"#/components/schemas/{model}"}
    assert "properties" in doc["components"]["schemas"][model]
