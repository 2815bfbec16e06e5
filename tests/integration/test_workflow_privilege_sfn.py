"""On AWS Step Functions (moto, executions enabled) a user workflow's public operations run as the
principal who started it, through the task-messages queue, like on the embedded engine."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.support.moto_server import MotoServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def moto():
    with MotoServer() as server:
        yield server


@pytest.fixture
def sfn(moto, env, monkeypatch):
    moto.reset()
    moto.configure({"stepfunctions": {"execute_state_machine": True}})
    suffix = uuid.uuid4().hex[:8]
    for key, value in {
        "PILOTHOUSE_ORCHESTRATOR": "stepfunctions",
        "PILOTHOUSE_QUEUE": "sqs",
        "PILOTHOUSE_SFN_ROLE_ARN": "arn:aws:iam::123456789012:role/pilothouse-states",
        "PILOTHOUSE_TASK_MESSAGES_QUEUE": f"task-messages-{suffix}",
        "PILOTHOUSE_JOBS_QUEUE": f"jobs-{suffix}",
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    return moto


def answer_task_messages(services, api, workflow, name, timeout=30.0):
    """Be the run_task_message function: answer the task messages until the execution ends."""
    from pilothouse.messaging.base import QueueSpec
    from pilothouse.services import task_messages

    queue = services.settings.task_messages_queue
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in services.queue.receive(queue, max_messages=10, wait_seconds=0.2):
            task_messages.handle(services, msg.body)
            services.queue.delete(queue, msg.receipt_handle)
        ex = api.get(f"/v1/workflows/{workflow}/executions/{name}")[2]
        if ex["status"] != "RUNNING":
            return ex
    raise AssertionError(f"{workflow}/{name} still running ({QueueSpec})")


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
