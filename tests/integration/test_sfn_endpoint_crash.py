"""The /sfn endpoint of a real ``pilothouse dev`` process, SIGKILLed mid-execution and restarted.

Executions started through the Step Functions API are the durable engine's: a callback task still
waits for its token after the crash, and a mocked execution's invocation counts (retries included)
carry on where they were instead of starting again from 0.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.support.controlplane import ADMIN_KEY, ROOT

ROLE = "arn:aws:iam::123456789012:role/test"
CALLBACK = {
    "StartAt": "Wait",
    "States": {
        "Wait": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "list_components", "Payload": {}},
            "End": True,
        }
    },
}
FLAKY = {
    "StartAt": "Call",
    "States": {
        "Call": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "get_component", "Payload": {}},
            # three invocations in all: a count that restarted at 0 after the crash would fail it
            "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 2, "BackoffRate": 1, "MaxAttempts": 2}],
            "End": True,
        }
    },
}
MOCKS = {
    "StateMachines": {"flaky": {"TestCases": {"T": {"Call": "R"}}}},
    "MockedResponses": {
        "R": {"0-1": {"Throw": {"Error": "Flaky", "Cause": "again"}}, "2": {"Return": {"ok": True}}}
    },
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dev:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        (tmp / "mocks.json").write_text(json.dumps(MOCKS))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PILOTHOUSE_", "AWS_", "SFN_"))}
        self.env.update(
            PILOTHOUSE_ADMIN_KEY=ADMIN_KEY,
            SFN_MOCK_CONFIG=str(tmp / "mocks.json"),
            POWERTOOLS_LOG_LEVEL="WARNING",
        )
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        with open(self.tmp / "dev.log", "ab") as log:
            self.proc = subprocess.Popen(
                [str(ROOT / ".venv/bin/pilothouse"), "dev", "--host", "127.0.0.1", "--port", str(port),
                 "--data-dir", str(self.tmp / "data"), "--project-dir", str(ROOT)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.tmp / "dev.log").read_text()[-3000:]
            try:
                if httpx.get(self.url + "/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError("pilothouse dev did not come up")

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def client(self):
        return boto3.client(
            "stepfunctions",
            endpoint_url=f"{self.url}/sfn",
            region_name="us-east-1",
            aws_access_key_id=ADMIN_KEY.split("_")[1],
            aws_secret_access_key=ADMIN_KEY,
            aws_session_token=ADMIN_KEY,
            config=Config(retries={"max_attempts": 1}, inject_host_prefix=False),
        )


@pytest.fixture
def dev(tmp_path):
    d = Dev(tmp_path)
    yield d
    if d.proc is not None:
        d.kill()


def _finished(sfn, arn: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING" or time.monotonic() > deadline:
            return d
        time.sleep(0.05)


def _waiting_token(data_dir: Path, name: str) -> str | None:
    """The callback token of execution ``cb/<name>``, read from the store (tests only: the API
    never shows it)."""
    from pilothouse.engine import ExecutionState
    from pilothouse.repositories.workflows import RECORD_SK, execution_pk
    from pilothouse.settings import Settings
    from pilothouse.store.sqlite import SqliteStore

    store = SqliteStore(Settings.from_environ({"PILOTHOUSE_DATA_DIR": str(data_dir)}).sqlite_path)
    try:
        item = store.get(execution_pk("cb", name), RECORD_SK)
        tasks = (
            [t for t in ExecutionState(item.data["state"]).outstanding_tasks() if t.get("token")]
            if item
            else []
        )
        return tasks[0]["token"] if tasks and item.data.get("task_leases") else None
    finally:
        store.close()


def test_sfn_executions_survive_a_sigkill_of_pilothouse_dev(dev):
    """Given a callback execution waiting and a mocked flaky one between retries, started through
    /sfn, When pilothouse dev is SIGKILLed and started again, Then the callback is answered and
    succeeds, and the mocked one succeeds on its third invocation (its count survived)."""
    dev.start()
    sfn = dev.client()
    cb = sfn.create_state_machine(name="cb", definition=json.dumps(CALLBACK), roleArn=ROLE)["stateMachineArn"]
    flaky = sfn.create_state_machine(name="flaky", definition=json.dumps(FLAKY), roleArn=ROLE)[
        "stateMachineArn"
    ]
    waiting = sfn.start_execution(stateMachineArn=cb, name="crash")["executionArn"]
    mocked = sfn.start_execution(stateMachineArn=f"{flaky}#T", name="m")["executionArn"]
    deadline = time.monotonic() + 30
    while _waiting_token(dev.tmp / "data", "crash") is None:
        assert time.monotonic() < deadline, "the callback task never started"
        time.sleep(0.05)
    deadline = time.monotonic() + 30
    while not any(
        e["type"] == "TaskFailed" for e in sfn.get_execution_history(executionArn=mocked)["events"]
    ):
        assert time.monotonic() < deadline, "the mocked task never failed once"
        time.sleep(0.05)
    dev.kill()

    token = _waiting_token(dev.tmp / "data", "crash")
    assert token is not None
    dev.start()
    sfn = dev.client()
    sfn.send_task_success(taskToken=token, output=json.dumps({"after": "crash"}))
    done = _finished(sfn, waiting)
    assert (done["status"], json.loads(done["output"])) == ("SUCCEEDED", {"after": "crash"})
    flaky_done = _finished(sfn, mocked)
    assert (flaky_done["status"], json.loads(flaky_done.get("output", "null"))) == ("SUCCEEDED", {"ok": True})
