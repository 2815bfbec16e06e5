"""On AWS Step Functions (moto, executions enabled) a user workflow's public operations run as the
principal who started it, through the task-messages queue, like on the embedded engine."""

from __future__ import annotations

import json

import pytest

from tests.support.moto_server import MotoServer
from tests.support.sfn_moto import answer_task_messages, use_step_functions_on

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def moto():
    with MotoServer() as server:
        yield server


@pytest.fixture
def sfn(moto, env, monkeypatch):
    return use_step_functions_on(moto, monkeypatch)


READ = {
    "StartAt": "Get",
    "States": {
        "Get": {
            "Type": "Task",
            "Resource": "get_component",
            "Parameters": {"name.$": "$.name"},
            "ResultSelector": {"state.$": "$.state"},
            "End": True,
        }
    },
}
DEPLOY = {
    "StartAt": "Deploy",
    "States": {
        "Deploy": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "deploy_component", "Payload": {"name.$": "$.name"}},
            "End": True,
        }
    },
}


def test_public_operations_run_as_the_starter_on_step_functions(sfn, api, services):
    """Given user workflows registered on Step Functions, an operator's execution reads a component
    through get_component, while its deploy_component (a deployer's operation) fails with
    Pilothouse.Forbidden, audited as denied; the component stays Registered."""
    from pilothouse.messaging.base import QueueSpec

    services.queue.declare(QueueSpec(services.settings.task_messages_queue))
    spec = {
        "name": "web",
        "provider": "local",
        "environment": "development",
        "version": "1.0.0",
        "target": {"command": ["{python}", "app.py", "--port", "{port}"]},
        "scaling": {"min": 1, "max": 5},
    }
    assert api.post("/v1/components", spec)[0] == 201
    assert api.post("/v1/workflows", {"name": "read", "definition": READ})[0] == 201
    assert api.post("/v1/workflows", {"name": "deploy", "definition": DEPLOY})[0] == 201
    operator = api.post("/v1/api-keys", {"name": "op", "role": "operator"})[2]["key"]
    for workflow in ("read", "deploy"):
        status, _, body = api.post(
            f"/v1/workflows/{workflow}/executions", {"name": "x", "input": {"name": "web"}}, key=operator
        )
        assert status == 201, body
    read = answer_task_messages(services, api, "read", "x")
    assert (read["status"], read["output"]) == ("SUCCEEDED", {"state": "Registered"}), read
    deploy = answer_task_messages(services, api, "deploy", "x")
    assert (deploy["status"], deploy["error"]) == ("FAILED", "Pilothouse.Forbidden"), deploy
    audit = [a for a in api.get("/v1/audit")[2]["items"] if a["operation"] == "deploy_component"]
    assert [a["outcome"] for a in audit] == ["denied"] and audit[0]["principal"] == "key:" + operator.split(
        "_"
    )[1]
    assert "components:deploy" in audit[0]["detail"]
    assert api.get("/v1/components/web")[2]["state"] == "Registered"
    assert json.dumps(api.get("/v1/workflows/read")[2]["definition"])  # registered (as task messages)
