"""The Step Functions-compatible endpoint (POST /sfn of `pilothouse dev`), driven by boto3 end to end.

One dev server for the module, on 127.0.0.1 and a free port; clients sign with API keys (access
key id: the key's id; secret access key and session token: the key).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from pilothouse.embedded.dev import DevServer
from tests.support.controlplane import ADMIN_KEY
from tests.support.sfn_endpoint import (
    CALLBACK_FLOW,
    MOCKED_FLOW,
    PASS_FLOW,
    ROLE,
    client,
    code,
    finished,
    new_key,
    running_server,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("sfn")) as srv:
        yield srv


@pytest.fixture(scope="module")
def sfn(server):
    return client(server, ADMIN_KEY)


def test_state_machines_are_created_described_listed_updated_published_and_deleted(sfn):
    # Given a definition; When it is created; Then its ARN is AWS's format with the local region/account
    made = sfn.create_state_machine(name="life", definition=json.dumps(PASS_FLOW), roleArn=ROLE)
    arn = made["stateMachineArn"]
    assert arn == "arn:aws:states:us-east-1:123456789012:stateMachine:life"
    # the same create again answers the same machine (Step Functions is idempotent here)
    assert (
        sfn.create_state_machine(name="life", definition=json.dumps(PASS_FLOW), roleArn=ROLE)[
            "stateMachineArn"
        ]
        == arn
    )
    with pytest.raises(ClientError) as err:
        sfn.create_state_machine(name="life", definition=json.dumps(PASS_FLOW), roleArn=ROLE + "2")
    assert code(err) == "StateMachineAlreadyExists"
    d = sfn.describe_state_machine(stateMachineArn=arn)
    assert (d["name"], d["type"], d["roleArn"], d["revisionId"]) == ("life", "STANDARD", ROLE, "1")
    assert json.loads(d["definition"]) == PASS_FLOW
    assert "life" in [m["name"] for m in sfn.list_state_machines()["stateMachines"]]

    v1 = sfn.publish_state_machine_version(stateMachineArn=arn, description="first")["stateMachineVersionArn"]
    assert v1 == arn + ":1"
    changed = {**PASS_FLOW, "Comment": "v2"}
    up = sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(changed), publish=True)
    assert up["revisionId"] == "2" and up["stateMachineVersionArn"] == arn + ":2"
    assert json.loads(sfn.describe_state_machine(stateMachineArn=v1)["definition"]) == PASS_FLOW
    with pytest.raises(ClientError) as err:
        sfn.publish_state_machine_version(stateMachineArn=arn, revisionId="1")
    assert code(err) == "ConflictException"
    with pytest.raises(ClientError) as err:
        sfn.update_state_machine(stateMachineArn=arn)
    assert code(err) == "MissingRequiredParameter"

    sfn.delete_state_machine(stateMachineArn=arn)
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.describe_state_machine(stateMachineArn=arn)
    sfn.delete_state_machine(stateMachineArn=arn)  # deleting what is gone succeeds, as on AWS


def test_bad_definitions_names_and_arns_get_aws_errors(sfn):
    with pytest.raises(sfn.exceptions.InvalidDefinition):
        sfn.create_state_machine(name="bad", definition='{"StartAt": "X", "States": {}}', roleArn=ROLE)
    with pytest.raises(sfn.exceptions.InvalidDefinition):
        sfn.create_state_machine(name="bad", definition="{not json", roleArn=ROLE)
    with pytest.raises(sfn.exceptions.InvalidName):
        sfn.create_state_machine(name="has space", definition=json.dumps(PASS_FLOW), roleArn=ROLE)
    with pytest.raises(sfn.exceptions.InvalidArn):
        sfn.describe_state_machine(stateMachineArn="arn:aws:lambda:us-east-1:123456789012:function:x")
    with pytest.raises(sfn.exceptions.ExecutionDoesNotExist):
        sfn.describe_execution(executionArn="arn:aws:states:us-east-1:123456789012:execution:nope:x")
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.start_execution(stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:nope")
    ok = sfn.validate_state_machine_definition(definition=json.dumps(PASS_FLOW))
    assert (ok["result"], ok["diagnostics"]) == ("OK", [])
    bad = sfn.validate_state_machine_definition(definition='{"StartAt": "X", "States": {}}')
    assert bad["result"] == "FAIL" and bad["diagnostics"][0]["code"] == "SCHEMA_VALIDATION_FAILED"


def test_executions_run_on_the_durable_engine_and_page_their_history(sfn):
    arn = sfn.create_state_machine(name="runs", definition=json.dumps(PASS_FLOW), roleArn=ROLE)[
        "stateMachineArn"
    ]
    started = sfn.start_execution(stateMachineArn=arn, name="big", input=json.dumps({"n": 5}))
    assert started["executionArn"] == "arn:aws:states:us-east-1:123456789012:execution:runs:big"
    done = finished(sfn, started["executionArn"])
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"n": 5, "greeting": {"hello": "world"}, "size": "big"}
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(stateMachineArn=arn, name="big", input=json.dumps({"n": 6}))

    small = sfn.start_execution(stateMachineArn=arn, name="small", input=json.dumps({"n": 0}))
    failed = finished(sfn, small["executionArn"])
    assert (failed["status"], failed["error"], failed["cause"]) == ("FAILED", "TooSmall", "n must exceed 1")

    # history: pages of at most maxResults, in order, and reversed
    whole = sfn.get_execution_history(executionArn=started["executionArn"], maxResults=1000)["events"]
    assert whole[0]["type"] == "ExecutionStarted" and whole[-1]["type"] == "ExecutionSucceeded"
    paged, token = [], None
    while True:
        page = sfn.get_execution_history(
            executionArn=started["executionArn"], maxResults=2, **({"nextToken": token} if token else {})
        )
        assert len(page["events"]) <= 2
        paged += page["events"]
        token = page.get("nextToken")
        if not token:
            break
    assert [e["id"] for e in paged] == [e["id"] for e in whole]
    backwards = sfn.get_execution_history(
        executionArn=started["executionArn"], reverseOrder=True, maxResults=3
    )
    assert [e["id"] for e in backwards["events"]] == [e["id"] for e in whole][::-1][:3]
    assert all(isinstance(e["timestamp"].timestamp(), float) for e in whole)
    bare = sfn.get_execution_history(executionArn=started["executionArn"], includeExecutionData=False)
    assert "input" not in bare["events"][0]["executionStartedEventDetails"]
    with pytest.raises(sfn.exceptions.InvalidToken):
        sfn.get_execution_history(executionArn=started["executionArn"], nextToken="garbage!")

    listed = sfn.list_executions(stateMachineArn=arn, statusFilter="FAILED")["executions"]
    assert [e["name"] for e in listed] == ["small"]
    newest = sfn.list_executions(stateMachineArn=arn, maxResults=1)  # the most recent first, as on AWS
    assert [e["name"] for e in newest["executions"]] == ["small"] and newest["nextToken"]
    rest = sfn.list_executions(stateMachineArn=arn, maxResults=1, nextToken=newest["nextToken"])
    assert [e["name"] for e in rest["executions"]] == ["big"] and "nextToken" not in rest

    # redrive: a failed one only
    with pytest.raises(sfn.exceptions.ExecutionNotRedrivable):
        sfn.redrive_execution(executionArn=started["executionArn"])
    assert "redriveDate" in sfn.redrive_execution(executionArn=small["executionArn"])


def test_callback_tasks_answer_through_task_tokens_and_stop(server, sfn):
    from pilothouse.engine import ExecutionState
    from pilothouse.repositories.workflows import RECORD_SK, execution_pk

    arn = sfn.create_state_machine(name="cb", definition=json.dumps(CALLBACK_FLOW), roleArn=ROLE)[
        "stateMachineArn"
    ]

    def waiting_token(name: str) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            item = server.services.store.get(execution_pk("cb", name), RECORD_SK)
            tasks = [t for t in ExecutionState(item.data["state"]).outstanding_tasks() if t.get("token")]
            if tasks and item.data.get("task_leases"):
                return tasks[0]["token"]
            time.sleep(0.02)
        raise AssertionError("no task waits")

    ok = sfn.start_execution(stateMachineArn=arn, name="ok")["executionArn"]
    token = waiting_token("ok")
    assert token not in json.dumps(sfn.get_execution_history(executionArn=ok)["events"], default=str)
    sfn.send_task_heartbeat(taskToken=token)
    sfn.send_task_success(taskToken=token, output=json.dumps({"by": "ana"}))
    assert json.loads(finished(sfn, ok)["output"]) == {"by": "ana"}
    with pytest.raises(sfn.exceptions.TaskTimedOut):  # its task is over
        sfn.send_task_success(taskToken=token, output="{}")
    with pytest.raises(sfn.exceptions.InvalidToken):
        sfn.send_task_success(taskToken="garbage", output="{}")

    no = sfn.start_execution(stateMachineArn=arn, name="no")["executionArn"]
    with pytest.raises(sfn.exceptions.InvalidOutput):
        sfn.send_task_success(taskToken=waiting_token("no"), output="{oops")
    sfn.send_task_failure(taskToken=waiting_token("no"), error="Rejected", cause="not today")
    assert finished(sfn, no)["error"] == "Rejected"

    stop = sfn.start_execution(stateMachineArn=arn, name="stop")["executionArn"]
    waiting_token("stop")
    assert "stopDate" in sfn.stop_execution(executionArn=stop, error="Halt", cause="enough")
    assert finished(sfn, stop)["status"] == "ABORTED"


def test_express_machines_run_synchronously(sfn):
    arn = sfn.create_state_machine(
        name="quick", definition=json.dumps(PASS_FLOW), roleArn=ROLE, type="EXPRESS"
    )["stateMachineArn"]
    out = sfn.start_sync_execution(stateMachineArn=arn, input=json.dumps({"n": 2}))
    assert out["status"] == "SUCCEEDED" and json.loads(out["output"])["size"] == "big"
    failed = sfn.start_sync_execution(stateMachineArn=arn, input=json.dumps({"n": 0}))
    assert (failed["status"], failed["error"]) == ("FAILED", "TooSmall")
    standard = sfn.create_state_machine(name="slow", definition=json.dumps(PASS_FLOW), roleArn=ROLE)
    with pytest.raises(sfn.exceptions.StateMachineTypeNotSupported):
        sfn.start_sync_execution(stateMachineArn=standard["stateMachineArn"])


def test_mock_test_cases_answer_task_states(sfn):
    """Given SFN_MOCK_CONFIG, `arn#TestCase` answers Task states from the case, counting invocations
    across retries as Step Functions Local does."""
    arn = sfn.create_state_machine(name="mocked", definition=json.dumps(MOCKED_FLOW), roleArn=ROLE)[
        "stateMachineArn"
    ]
    ok = sfn.start_execution(stateMachineArn=f"{arn}#FlakyThenOk", input="{}")["executionArn"]
    done = finished(sfn, ok)
    assert (done["status"], json.loads(done["output"])) == ("SUCCEEDED", {"ok": 1})
    bad = finished(sfn, sfn.start_execution(stateMachineArn=f"{arn}#Broken")["executionArn"])
    assert (bad["status"], bad["error"], bad["cause"]) == ("FAILED", "Boom", "mocked")
    with pytest.raises(ClientError) as err:
        sfn.start_execution(stateMachineArn=f"{arn}#NoSuchCase")
    assert code(err) == "ValidationException"


def test_test_state_runs_one_state(sfn):
    passed = sfn.test_state(
        definition=json.dumps({"Type": "Pass", "Result": 1, "ResultPath": "$.x", "Next": "After"}),
        roleArn=ROLE,
        input=json.dumps({"a": 1}),
    )
    assert (passed["status"], json.loads(passed["output"]), passed["nextState"]) == (
        "SUCCEEDED",
        {"a": 1, "x": 1},
        "After",
    )
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Retry": [{"ErrorEquals": ["Flaky"]}],
        "End": True,
    }
    retriable = sfn.test_state(
        definition=json.dumps(task), roleArn=ROLE, mock={"errorOutput": {"error": "Flaky", "cause": "x"}}
    )
    assert (retriable["status"], retriable["error"]) == ("RETRIABLE", "Flaky")
    mocked = sfn.test_state(definition=json.dumps(task), roleArn=ROLE, mock={"result": '{"r": 2}'})
    assert json.loads(mocked["output"]) == {"r": 2}


# -- attacks ---------------------------------------------------------------------------------------


def _raw(server: DevServer, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"{server.url}/sfn", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_unsigned_unknown_or_wrong_callers_get_aws_errors(server, sfn):
    target = {
        "X-Amz-Target": "AWSStepFunctions.ListStateMachines",
        "Content-Type": "application/x-amz-json-1.0",
    }
    status, body = _raw(server, b"{}", target)
    assert status == 403 and body["__type"] == "com.amazonaws.states#MissingAuthenticationTokenException"

    for wrong in (
        client(server, "ph_deadbeef0000_not-a-real-key-at-all-000"),  # unknown key
        client(server, ADMIN_KEY, token=None),  # no key as session token
        client(server, ADMIN_KEY, key_id="somebodyelse"),  # the id of another key
    ):
        with pytest.raises(ClientError) as err:
            wrong.list_state_machines()
        assert code(err) == "UnrecognizedClientException"
    forged = boto3.client(
        "stepfunctions",
        endpoint_url=f"{server.url}/sfn",
        region_name="us-east-1",
        aws_access_key_id=ADMIN_KEY.split("_")[1],
        aws_secret_access_key="not-the-key",
        aws_session_token=ADMIN_KEY,
    )
    with pytest.raises(ClientError) as err:
        forged.list_state_machines()
    assert code(err) == "InvalidSignatureException"

    viewer = client(server, new_key(server, "viewer"))
    arn = sfn.create_state_machine(name="guarded", definition=json.dumps(PASS_FLOW), roleArn=ROLE)[
        "stateMachineArn"
    ]
    viewer.describe_state_machine(stateMachineArn=arn)  # a viewer reads
    with pytest.raises(ClientError) as err:
        viewer.start_execution(stateMachineArn=arn)
    assert code(err) == "AccessDeniedException"
    operator = client(server, new_key(server, "operator"))
    operator.start_execution(stateMachineArn=arn, input='{"n": 3}')
    with pytest.raises(ClientError) as err:
        operator.delete_state_machine(stateMachineArn=arn)
    assert code(err) == "AccessDeniedException"
    assert sfn.list_executions(stateMachineArn=arn)["executions"]

    # audited like the HTTP API, never with a secret
    from pilothouse.services import audit

    records, _ = audit.list_records(server.services, limit=500)
    refused = [r for r in records if r["operation"] == "start_execution" and r["status"] == 400]
    assert refused  # the viewer's refused start is audited too
    started = [r for r in records if r["operation"] == "start_execution" and r["status"] == 200]
    assert any(r["target"].startswith("execution:guarded/") for r in started)
    assert any(r["operation"] == "create_workflow" and r["target"] == "workflow:guarded" for r in records)
    text = json.dumps(records)
    assert ADMIN_KEY not in text and ADMIN_KEY.split("_")[2] not in text


def test_malformed_bodies_and_unknown_targets_get_aws_errors(server):
    signed = client(server, ADMIN_KEY)
    # an unknown operation and a broken body, through a real signature
    events = signed.meta.events

    def rewrite(request, **_: Any) -> None:
        request.headers["X-Amz-Target"] = "AWSStepFunctions.DropAllTables"

    events.register_first("before-sign.states.ListStateMachines", rewrite)
    with pytest.raises(ClientError) as err:
        signed.list_state_machines()
    assert code(err) == "UnknownOperationException"
    events.unregister("before-sign.states.ListStateMachines", rewrite)

    def deep(request, **_: Any) -> None:
        request.data = b"[" * 5000 + b"]" * 5000

    events.register_first("before-sign.states.ListExecutions", deep)
    with pytest.raises(ClientError) as err:
        signed.list_executions(stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:x")
    assert code(err) == "SerializationException"
    events.unregister("before-sign.states.ListExecutions", deep)

    def broken(request, **_: Any) -> None:
        request.data = b'{"stateMachineArn": '

    events.register_first("before-sign.states.DescribeStateMachine", broken)
    with pytest.raises(ClientError) as err:
        signed.describe_state_machine(stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:x")
    assert code(err) == "SerializationException"
    events.unregister("before-sign.states.DescribeStateMachine", broken)

    huge = "x" * (5 * 1024 * 1024)
    with pytest.raises(ClientError) as err:
        signed.start_execution(
            stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:x", input=huge
        )
    assert code(err) == "ValidationException"


def test_the_context_object_names_the_arns_clients_see_and_versions_run_their_own_definition(sfn):
    """Given a machine whose state reads $$.Execution.Id, the execution sees the ARN the client got;
    an execution of published version 1 runs version 1's definition after an update."""
    flow = {
        "StartAt": "Who",
        "States": {
            "Who": {
                "Type": "Pass",
                "Parameters": {"ex.$": "$$.Execution.Id", "sm.$": "$$.StateMachine.Id", "v": 1},
                "End": True,
            }
        },
    }
    made = sfn.create_state_machine(name="ctx", definition=json.dumps(flow), roleArn=ROLE, publish=True)
    assert made["stateMachineVersionArn"].endswith(":ctx:1")
    flow["States"]["Who"]["Parameters"]["v"] = 2
    sfn.update_state_machine(stateMachineArn=made["stateMachineArn"], definition=json.dumps(flow))
    latest = sfn.start_execution(stateMachineArn=made["stateMachineArn"])
    out = json.loads(finished(sfn, latest["executionArn"])["output"])
    assert out == {"ex": latest["executionArn"], "sm": made["stateMachineArn"], "v": 2}
    first = sfn.start_execution(stateMachineArn=made["stateMachineVersionArn"])
    assert json.loads(finished(sfn, first["executionArn"])["output"])["v"] == 1
    only_v1 = sfn.list_executions(stateMachineArn=made["stateMachineVersionArn"])["executions"]
    assert [e["executionArn"] for e in only_v1] == [first["executionArn"]]


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_the_aws_cli_works_against_the_endpoint(server, sfn, tmp_path):
    """Given the AWS CLI with an API key as its credentials, it creates, starts and describes."""
    key_id = ADMIN_KEY.split("_")[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": ADMIN_KEY,
        "AWS_SESSION_TOKEN": ADMIN_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "NO_PROXY": "127.0.0.1",
    }

    def aws(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            ["aws", "stepfunctions", *args, "--endpoint-url", f"{server.url}/sfn", "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else {}

    arn = aws(
        "create-state-machine", "--name", "cli", "--definition", json.dumps(PASS_FLOW), "--role-arn", ROLE
    )["stateMachineArn"]
    started = aws("start-execution", "--state-machine-arn", arn, "--input", '{"n": 9}')
    assert finished(sfn, started["executionArn"])["status"] == "SUCCEEDED"
    assert aws("describe-execution", "--execution-arn", started["executionArn"])["status"] == "SUCCEEDED"
    missing = subprocess.run(
        [
            "aws",
            "stepfunctions",
            "describe-execution",
            "--execution-arn",
            started["executionArn"] + "x",
            "--endpoint-url",
            f"{server.url}/sfn",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode != 0 and "ExecutionDoesNotExist" in missing.stderr


def test_test_state_reports_a_caught_error_and_a_state_that_goes_to_itself(sfn):
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Handle"}],
        "Next": "Done",
    }
    caught = sfn.test_state(
        definition=json.dumps(task), roleArn=ROLE, mock={"errorOutput": {"error": "Boom", "cause": "c"}}
    )
    assert (caught["status"], caught["nextState"], caught.get("error")) == ("CAUGHT_ERROR", "Handle", "Boom")
    again = sfn.test_state(
        definition=json.dumps({"Type": "Pass", "Next": "Loop"}), roleArn=ROLE, stateName="Loop"
    )
    assert (again["status"], again["nextState"]) == ("SUCCEEDED", "Loop")


def test_an_input_and_output_of_256_kib_go_through_and_a_larger_input_is_refused(sfn):
    """Given an input of exactly 256 KiB (UTF-8 bytes of its JSON, mostly characters JSON escapes),
    when an execution of a Pass state runs on it, then DescribeExecution and GetExecutionHistory
    give the input and the (equal) output whole; and an input one byte larger (a two-byte
    character) is refused as AWS refuses it (ValidationException), starting nothing."""
    echo = {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}
    arn = sfn.create_state_machine(name="large", definition=json.dumps(echo), roleArn=ROLE)["stateMachineArn"]
    text = json.dumps({"pad": ""}, separators=(",", ":"))
    text = text[:-2] + '\\"' * ((256 * 1024 - len(text)) // 2 - 1) + text[-2:]
    text = text[:-2] + "x" * (256 * 1024 - len(text.encode())) + text[-2:]
    assert len(text.encode()) == 256 * 1024
    ex = sfn.start_execution(stateMachineArn=arn, name="big", input=text)["executionArn"]
    done = finished(sfn, ex)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["input"]) == json.loads(text) == json.loads(done["output"])
    events = sfn.get_execution_history(executionArn=ex, maxResults=1000)["events"]
    assert json.loads(events[0]["executionStartedEventDetails"]["input"]) == json.loads(text)
    assert json.loads(events[-1]["executionSucceededEventDetails"]["output"]) == json.loads(text)
    last = sfn.get_execution_history(executionArn=ex, maxResults=1, reverseOrder=True)["events"]
    assert last[0]["type"] == "ExecutionSucceeded"
    over = text[:-3] + "é" + text[-2:]  # one character replaced by two bytes
    assert len(over.encode()) == 256 * 1024 + 1
    with pytest.raises(ClientError) as err:
        sfn.start_execution(stateMachineArn=arn, name="too-big", input=over)
    assert code(err) == "ValidationException"
    with pytest.raises(ClientError) as err:
        sfn.describe_execution(executionArn=ex.replace(":big", ":too-big"))
    assert code(err) == "ExecutionDoesNotExist"
