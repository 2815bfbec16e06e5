"""On Step Functions (moto), a deployment whose state machine ends behind Pilothouse's back settles:
EventBridge's "Step Functions Execution Status Change" event reaches ``execution_status_changed``,
which runs the same execution listeners as the embedded executor. Forged events change nothing."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3
import pytest
import yaml

from pilothouse.embedded.functions import load_module
from pilothouse.embedded.template import FunctionDef
from tests.support.controlplane import ROOT
from tests.support.devserver import client_for, wait_state
from tests.support.moto_server import MotoServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def moto():
    with MotoServer() as server:
        yield server


@pytest.fixture
def sfn_dev(moto, dev, monkeypatch):
    """`pilothouse dev` on moto: DynamoDB, SQS, and Step Functions (tasks sent as SQS messages, as
    moto runs no Lambda code), the state machines named with a prefix of their own."""
    suffix = uuid.uuid4().hex[:8]
    moto.configure({"stepfunctions": {"execute_state_machine": True}})
    for key, value in {
        "PILOTHOUSE_STORE": "dynamodb",
        "PILOTHOUSE_QUEUE": "sqs",
        "PILOTHOUSE_BLOBS": "s3",
        "PILOTHOUSE_TABLE_NAME": f"pilothouse-{suffix}",
        "PILOTHOUSE_BUCKET_NAME": f"pilothouse-{suffix}",
        "PILOTHOUSE_JOBS_QUEUE": f"jobs-{suffix}",
        "PILOTHOUSE_EXECUTIONS_QUEUE": f"executions-{suffix}",
        "PILOTHOUSE_TASKS_QUEUE": f"tasks-{suffix}",
        "PILOTHOUSE_TASK_MESSAGES_QUEUE": f"task-messages-{suffix}",
        "PILOTHOUSE_ORCHESTRATOR": "stepfunctions",
        "PILOTHOUSE_SFN_TASK_TRANSPORT": "sqs",
        "PILOTHOUSE_SFN_PREFIX": f"ph{suffix}-",
        "PILOTHOUSE_SFN_ROLE_ARN": "arn:aws:iam::123456789012:role/pilothouse-states",
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    return dev


@pytest.fixture
def handler():
    """The function as Lambda loads it (its folder, its ``app.handler``)."""
    code_dir = ROOT / "functions/execution_status_changed"
    fn = FunctionDef("ExecutionStatusChangedFunction", code_dir, "app.handler", timeout=60)
    return load_module(fn)


def status_change(execution: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge event Step Functions sends for ``execution`` (a DescribeExecution answer)."""
    arn = execution["executionArn"]
    _, _, _, region, account, *_ = arn.split(":")

    def millis(value: Any) -> int | None:
        return int(value.timestamp() * 1000) if value is not None else None

    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": account,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": region,
        "resources": [arn],
        "detail": {
            "executionArn": arn,
            "stateMachineArn": execution["stateMachineArn"],
            "name": execution["name"],
            "status": execution["status"],
            "startDate": millis(execution.get("startDate")),
            "stopDate": millis(execution.get("stopDate")),
            "input": execution.get("input"),
            "output": execution.get("output"),
            "inputDetails": {"included": True},
            "outputDetails": None,
            "error": execution.get("error"),
            "cause": execution.get("cause"),
            "redriveCount": 0,
            "redriveStatus": "NOT_REDRIVABLE",
        },
    }


def _ended(sfn, arn: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = sfn.describe_execution(executionArn=arn)
        if execution["status"] != "RUNNING":
            return execution
        time.sleep(0.1)
    raise AssertionError(f"{arn} is still running")


WAIT = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}
FAIL = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "States.Runtime", "Cause": "boom"}}}


def _deploying_with(c, name: str, definition: dict) -> dict:
    """Update ``name`` with a user's strategy workflow of ``definition``; the deployment once its
    execution runs (or ran)."""
    workflow = f"strategy-{uuid.uuid4().hex[:6]}"
    assert c.post("/v1/workflows", json={"name": workflow, "definition": definition}).status_code == 201
    strategy = {"type": "custom", "workflow": workflow, "steps": [{"kind": "set_weight", "weight": 100}]}
    assert (
        c.post(f"/v1/components/{name}/update", json={"version": "2.0.0", "strategy": strategy}).status_code
        == 202
    )
    for _ in range(300):
        items = c.get("/v1/deployments", params={"component": name}).json()["items"]
        dep = items[0] if items and items[0]["command"] == "update" else None
        if dep and c.get(f"/v1/workflows/{workflow}/executions/{dep['execution']}").status_code == 200:
            return dep
        time.sleep(0.1)
    raise AssertionError(f"the deployment's workflow never started: {items}")


def _running_component(c) -> str:
    spec = yaml.safe_load((ROOT / "examples/greeter/component.yaml").read_text())
    spec["name"] = name = f"greeter-{uuid.uuid4().hex[:6]}"
    assert c.post("/v1/components", json=spec).status_code == 201
    assert c.post(f"/v1/components/{name}/deploy", json={}).status_code == 202
    web = wait_state(c, name)
    assert web["state"] == "Running", web["last_error"]
    return name


def _wait_deployment(c, dep_id: str, statuses: set[str], timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dep = c.get(f"/v1/deployments/{dep_id}").json()
        if dep["status"] in statuses:
            return dep
        time.sleep(0.2)
    raise AssertionError(f"deployment {dep_id} is still {dep['status']}")


@pytest.mark.parametrize("how", ["stopped", "failed uncaught"])
def test_a_deployment_whose_state_machine_ends_behind_its_back_rolls_back(sfn_dev, handler, how):
    """Given a deployment running its strategy's state machine on Step Functions, when that execution
    is stopped directly in Step Functions (not through Pilothouse), or fails without settling the
    deployment, then nothing notices until the status-change event EventBridge sends for that
    execution reaches execution_status_changed; then the deployment manager rolls the deployment
    back and the component keeps serving the old version. The same event delivered again changes
    nothing more."""
    server = sfn_dev()
    c = client_for(server)
    name = _running_component(c)
    dep = _deploying_with(c, name, WAIT if how == "stopped" else FAIL)
    sfn = boto3.client("stepfunctions")
    arn = c.get(f"/v1/workflows/{dep['workflow']}/executions/{dep['execution']}").json()["execution_arn"]
    if how == "stopped":
        sfn.stop_execution(executionArn=arn, error="Console", cause="stopped by hand")
    ended = _ended(sfn, arn)
    assert ended["status"] == ("ABORTED" if how == "stopped" else "FAILED")
    time.sleep(1.0)
    assert c.get(f"/v1/deployments/{dep['id']}").json()["status"] not in (
        "rolled_back",
        "failed",
        "succeeded",
    )

    event = status_change(ended)
    assert handler(event, None)["outcome"] == f"announced {ended['status']}"
    done = _wait_deployment(c, dep["id"], {"rolled_back", "failed", "succeeded"})
    assert done["status"] == "rolled_back", done
    web = wait_state(c, name)
    assert (web["state"], web["version"]) == ("Running", "1.0.0")

    events_before = c.get(f"/v1/deployments/{dep['id']}/events").json()["items"]
    assert handler(event, None)["outcome"] == f"announced {ended['status']}"  # redelivered
    assert c.get(f"/v1/deployments/{dep['id']}").json()["status"] == "rolled_back"
    assert c.get(f"/v1/deployments/{dep['id']}/events").json()["items"] == events_before


def test_forged_events_change_no_deployment(sfn_dev, handler):
    """Given a deployment whose strategy execution runs, then events that name a foreign state
    machine (whose execution really failed and whose input names the deployment), an unknown
    execution of ours, or claim that the deployment's own running execution was aborted, are all
    ignored and the deployment runs on."""
    server = sfn_dev()
    c = client_for(server)
    name = _running_component(c)
    dep = _deploying_with(c, name, WAIT)
    sfn = boto3.client("stepfunctions")
    ours = c.get(f"/v1/workflows/{dep['workflow']}/executions/{dep['execution']}").json()["execution_arn"]
    real = sfn.describe_execution(executionArn=ours)
    status_before = c.get(f"/v1/deployments/{dep['id']}").json()["status"]

    foreign = sfn.create_state_machine(
        name=f"foreign-{uuid.uuid4().hex[:6]}",
        definition=json.dumps(FAIL),
        roleArn="arn:aws:iam::123456789012:role/other",
    )["stateMachineArn"]
    started = sfn.start_execution(
        stateMachineArn=foreign, name=dep["execution"], input=json.dumps({"deployment_id": dep["id"]})
    )
    failed = _ended(sfn, started["executionArn"])
    assert failed["status"] == "FAILED"
    assert handler(status_change(failed), None)["outcome"].startswith("ignored: not one of")

    unknown = status_change({**real, "status": "FAILED"})
    unknown["detail"]["executionArn"] = ours.rsplit(":", 1)[0] + ":no-such-execution"
    unknown["detail"]["name"] = "no-such-execution"
    assert handler(unknown, None)["outcome"] == "ignored: unknown execution"

    claimed = status_change({**real, "status": "ABORTED"})
    assert handler(claimed, None)["outcome"] == "ignored: the execution is RUNNING"

    assert c.get(f"/v1/deployments/{dep['id']}").json()["status"] == status_before
    assert sfn.describe_execution(executionArn=ours)["status"] == "RUNNING"
