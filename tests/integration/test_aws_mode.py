"""`pilothouse dev` on AWS backends at an endpoint: DynamoDB, SQS and S3 on a moto server, with the
foundation's scenario and the deployment scenarios on real local processes."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
import yaml

from tests.support.controlplane import ROOT
from tests.support.devserver import client_for, wait_state
from tests.support.moto_server import MotoServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def moto():
    with MotoServer() as server:
        yield server


@pytest.fixture
def aws_dev(moto, dev, monkeypatch):
    suffix = uuid.uuid4().hex[:8]
    for key, value in {
        "PILOTHOUSE_STORE": "dynamodb",
        "PILOTHOUSE_QUEUE": "sqs",
        "PILOTHOUSE_BLOBS": "s3",
        "PILOTHOUSE_TABLE_NAME": f"pilothouse-{suffix}",
        "PILOTHOUSE_BUCKET_NAME": f"pilothouse-{suffix}",
        "PILOTHOUSE_JOBS_QUEUE": f"jobs-{suffix}",
        "PILOTHOUSE_EXECUTIONS_QUEUE": f"executions-{suffix}",
        "PILOTHOUSE_TASKS_QUEUE": f"tasks-{suffix}",
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    return dev


def test_the_control_plane_on_dynamodb_sqs_and_s3(aws_dev):
    """Given `pilothouse dev` with the DynamoDB store, SQS queues and S3 blobs on moto, then the
    foundation's lifecycle, a canary, an automatic rollback and a durable workflow all work, and the
    state lives in DynamoDB (it survives a restart of the control plane)."""
    server = aws_dev()
    assert type(server.services.store).__name__ == "DynamoStore"
    assert type(server.services.queue).__name__ == "SqsQueue"
    c = client_for(server)
    spec = yaml.safe_load((ROOT / "examples/greeter/component.yaml").read_text())
    assert c.post("/v1/components", json=spec).status_code == 201
    assert c.post("/v1/components/greeter/deploy", json={}).status_code == 202
    web = wait_state(c, "greeter")
    assert web["state"] == "Running", web["last_error"]
    url = web["url"]
    assert httpx.get(url).json()["version"] == "1.0.0"

    assert c.post("/v1/components/greeter/scale", json={"replicas": 2}).status_code == 202
    assert wait_state(c, "greeter")["replicas"] == 2

    canary = {
        "type": "custom",
        "steps": [
            {"kind": "set_weight", "weight": 50},
            {"kind": "pause", "seconds": 1},
            {"kind": "analysis", "analysis": {"no_data": "pass"}},
        ],
    }
    assert (
        c.post("/v1/components/greeter/update", json={"version": "2.0.0", "strategy": canary}).status_code
        == 202
    )
    web = wait_state(c, "greeter")
    assert (web["state"], web["version"], web["url"]) == ("Running", "2.0.0", url)
    dep = c.get("/v1/deployments", params={"component": "greeter"}).json()["items"][0]
    assert dep["status"] == "succeeded"

    c.post("/v1/components/greeter/update", json={"version": "3.0.0-broken", "strategy": canary})
    web = wait_state(c, "greeter")
    assert (web["state"], web["version"]) == ("Running", "2.0.0")
    assert (
        c.get("/v1/deployments", params={"component": "greeter"}).json()["items"][0]["status"]
        == "rolled_back"
    )

    flow = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Result": 1, "ResultPath": "$.a", "Next": "W"},
            "W": {"Type": "Wait", "Seconds": 1, "End": True},
        },
    }
    assert c.post("/v1/workflows", json={"name": "flow", "definition": flow}).status_code == 201
    c.post("/v1/workflows/flow/executions", json={"name": "e1", "input": {"x": 1}})
    for _ in range(100):
        ex = c.get("/v1/workflows/flow/executions/e1").json()
        if ex["status"] != "RUNNING":
            break
        time.sleep(0.1)
    assert ex["status"] == "SUCCEEDED" and ex["output"] == {"x": 1, "a": 1}

    server.services.blobs.put("backups/probe.json", b"{}", content_type="application/json")
    assert server.services.blobs.get("backups/probe.json") == b"{}"

    server.stop()
    server = aws_dev()
    c = client_for(server)
    web = c.get("/v1/components/greeter").json()
    assert (web["state"], web["version"], web["url"]) == ("Running", "2.0.0", url)
    assert httpx.get(url).json()["version"] == "2.0.0"
    assert c.post("/v1/components/greeter/stop", json={}).status_code == 202
    assert wait_state(c, "greeter")["state"] == "Stopped"
    assert any(a["operation"] == "update_component" for a in c.get("/v1/audit").json()["items"])


def test_deployments_run_natively_on_step_functions_and_approve_completes_the_callback(
    aws_dev, moto, monkeypatch
):
    """Given the Step Functions orchestrator on moto (which runs no Lambda code, so the state
    machines send their tasks as SQS messages answered with the task token), a blue-green deployment
    with an approval gate runs natively: it waits at the gate until Pilothouse's approve operation
    completes the callback, then finishes, and the component runs the new version."""
    moto.configure({"stepfunctions": {"execute_state_machine": True}})
    monkeypatch.setenv("PILOTHOUSE_ORCHESTRATOR", "stepfunctions")
    monkeypatch.setenv("PILOTHOUSE_SFN_TASK_TRANSPORT", "sqs")
    monkeypatch.setenv("PILOTHOUSE_SFN_ROLE_ARN", "arn:aws:iam::123456789012:role/pilothouse-states")
    monkeypatch.setenv("PILOTHOUSE_TASK_MESSAGES_QUEUE", f"task-messages-{uuid.uuid4().hex[:8]}")
    server = aws_dev()
    c = client_for(server)
    spec = yaml.safe_load((ROOT / "examples/greeter/component.yaml").read_text())
    spec["name"] = f"greeter-{uuid.uuid4().hex[:6]}"
    name = spec["name"]
    assert c.post("/v1/components", json=spec).status_code == 201
    assert c.post(f"/v1/components/{name}/deploy", json={}).status_code == 202
    web = wait_state(c, name)
    assert web["state"] == "Running", web["last_error"]
    url = web["url"]

    body = {"version": "2.0.0", "strategy": {"type": "blue-green", "approval": True}}
    assert c.post(f"/v1/components/{name}/update", json=body).status_code == 202
    dep = None
    for _ in range(300):
        items = c.get("/v1/deployments", params={"component": name}).json()["items"]
        dep = items[0] if items else None
        if dep and dep["status"] == "awaiting_approval":
            break
        time.sleep(0.1)
    assert dep and dep["status"] == "awaiting_approval", dep
    execution = c.get(f"/v1/workflows/{dep['workflow']}/executions/{dep['execution']}").json()
    assert execution["status"] == "RUNNING" and execution["execution_arn"].startswith("arn:aws:states:")
    assert httpx.get(url).json()["version"] == "1.0.0"

    assert c.post(f"/v1/deployments/{dep['id']}/approve", json={"comment": "ship it"}).status_code == 200
    web = wait_state(c, name)
    assert (web["state"], web["version"], web["url"]) == ("Running", "2.0.0", url)
    assert httpx.get(url).json()["version"] == "2.0.0"
    done = c.get(f"/v1/deployments/{dep['id']}").json()
    assert done["status"] == "succeeded" and done["approvals"][0]["comment"] == "ship it"
    for _ in range(50):
        execution = c.get(f"/v1/workflows/{dep['workflow']}/executions/{dep['execution']}").json()
        if execution["status"] != "RUNNING":
            break
        time.sleep(0.1)
    assert execution["status"] == "SUCCEEDED"
