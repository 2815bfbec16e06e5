"""The workflows API on AWS Step Functions (moto server, executions enabled), beside the engine."""

from __future__ import annotations

import json
import time

import pytest

from pilothouse.engine import run
from tests.support.moto_server import MotoServer

pytestmark = pytest.mark.slow

FLOW = {
    "StartAt": "Init",
    "States": {
        "Init": {"Type": "Pass", "Parameters": {"n.$": "$.n", "items": [1, 2, 3]}, "Next": "Check"},
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.n", "NumericGreaterThan": 2, "Next": "Big"}],
            "Default": "Small",
        },
        "Big": {"Type": "Pass", "Result": "big", "ResultPath": "$.size", "Next": "Sum"},
        "Small": {"Type": "Pass", "Result": "small", "ResultPath": "$.size", "Next": "Sum"},
        "Sum": {
            "Type": "Pass",
            "Parameters": {
                "size.$": "$.size",
                "count.$": "States.ArrayLength($.items)",
                "greeting.$": "States.Format('hello {}', $.size)",
            },
            "End": True,
        },
    },
}


@pytest.fixture(scope="module")
def moto():
    with MotoServer() as server:
        server.configure({"stepfunctions": {"execute_state_machine": True}})
        yield server


@pytest.fixture
def sfn_env(moto, env, monkeypatch):
    monkeypatch.setenv("PILOTHOUSE_ORCHESTRATOR", "stepfunctions")
    monkeypatch.setenv("PILOTHOUSE_SFN_ROLE_ARN", "arn:aws:iam::123456789012:role/pilothouse-states")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    moto.reset()
    moto.configure({"stepfunctions": {"execute_state_machine": True}})
    return moto


def wait_done(api, workflow, name, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ex = api.get(f"/v1/workflows/{workflow}/executions/{name}")[2]
        if ex["status"] != "RUNNING":
            return ex
        time.sleep(0.1)
    raise AssertionError(f"{name} still running")


def test_a_workflow_runs_natively_and_matches_the_engine(sfn_env, api):
    """Given a definition of Pass and Choice states, when it runs on Step Functions (moto) through
    the workflows API, then it succeeds with the same output as the embedded engine gives."""
    status, _, wf = api.post("/v1/workflows", {"name": "flow", "definition": FLOW})
    assert status == 201, wf
    assert wf["state_machine_arn"].endswith(":stateMachine:flow")
    for n in (1, 5):
        status, _, ex = api.post("/v1/workflows/flow/executions", {"name": f"n{n}", "input": {"n": n}})
        assert status == 201, ex
        done = wait_done(api, "flow", f"n{n}")
        local = run(FLOW, {"n": n}, invoke=lambda *a: None)
        assert done["status"] == local.status == "SUCCEEDED"
        assert done["output"] == local.output
    events = api.get("/v1/workflows/flow/executions/n5/history", query="limit=100")[2]["events"]
    assert events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded"
    listed = api.get("/v1/workflows/flow/executions", query="status=SUCCEEDED")[2]["items"]
    assert sorted(e["name"] for e in listed) == ["n1", "n5"]


def test_update_publishes_versions_and_stop_aborts(sfn_env, api):
    api.post(
        "/v1/workflows",
        {
            "name": "waiter",
            "definition": {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}},
        },
    )
    status, _, body = api.call(
        "PUT",
        "/v1/workflows/waiter",
        {
            "definition": {
                "Comment": "v2",
                "StartAt": "W",
                "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}},
            }
        },
    )
    assert status == 200 and body["definition"]["Comment"] == "v2"
    api.post("/v1/workflows/waiter/executions", {"name": "w1", "input": {}})
    status, _, body = api.post("/v1/workflows/waiter/executions/w1/stop", {"error": "Manual", "cause": "ops"})
    assert status == 200 and body["status"] == "ABORTED"
    assert api.get("/v1/workflows/waiter/executions/nope")[0] == 404


def test_a_callback_task_is_completed_through_the_api(sfn_env, api):
    """Given a .waitForTaskToken task (an SQS message carrying the token), the execution waits until
    the token comes back through Pilothouse's task-token operation."""
    import boto3

    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="approvals")["QueueUrl"]
    definition = {
        "StartAt": "Approval",
        "States": {
            "Approval": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {
                    "QueueUrl": queue_url,
                    "MessageBody": {"token.$": "$$.Task.Token", "what.$": "$.what"},
                },
                "ResultPath": "$.approval",
                "End": True,
            }
        },
    }
    assert api.post("/v1/workflows", {"name": "gate", "definition": definition})[0] == 201
    api.post("/v1/workflows/gate/executions", {"name": "g1", "input": {"what": "deploy 2.0.0"}})
    messages = []
    for _ in range(50):
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])
        if messages:
            break
    body = json.loads(messages[0]["Body"])
    assert body["what"] == "deploy 2.0.0"
    assert api.get("/v1/workflows/gate/executions/g1")[2]["status"] == "RUNNING"
    status, _, _ = api.post(
        "/v1/task-tokens/success", {"token": body["token"], "output": {"approved_by": "ana"}}
    )
    assert status == 200
    done = wait_done(api, "gate", "g1")
    assert done["status"] == "SUCCEEDED" and done["output"]["approval"] == {"approved_by": "ana"}
    assert api.post("/v1/task-tokens/success", {"token": "bogus", "output": {}})[0] in (404, 409)
