"""The Step Functions-compatible endpoint's test fixtures: a `pilothouse dev` with a Step Functions
Local mock file, boto3 clients signed with API keys, and the definitions the endpoint tests share."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from tests.support.controlplane import ADMIN_KEY, ROOT

from pilothouse.embedded.dev import DevServer
from pilothouse.services import keys

PASS_FLOW = {
    "StartAt": "Hello",
    "States": {
        "Hello": {"Type": "Pass", "Result": {"hello": "world"}, "ResultPath": "$.greeting", "Next": "Pick"},
        "Pick": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Big"}],
            "Default": "Small",
        },
        "Big": {"Type": "Pass", "Result": "big", "ResultPath": "$.size", "End": True},
        "Small": {"Type": "Fail", "Error": "TooSmall", "Cause": "n must exceed 1"},
    },
}

CALLBACK_FLOW = {
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

MOCKED_FLOW = {
    "StartAt": "Call",
    "States": {
        "Call": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "get_component", "Payload.$": "$"},
            "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "BackoffRate": 1, "MaxAttempts": 3}],
            "OutputPath": "$.Payload",
            "End": True,
        }
    },
}

MOCKS = {
    "StateMachines": {"mocked": {"TestCases": {"FlakyThenOk": {"Call": "R"}, "Broken": {"Call": "B"}}}},
    "MockedResponses": {
        "R": {
            "0-1": {"Throw": {"Error": "Flaky", "Cause": "try again"}},
            "2": {"Return": {"Payload": {"ok": 1}}},
        },
        "B": {"0": {"Throw": {"Error": "Boom", "Cause": "mocked"}}},
    },
}

ROLE = "arn:aws:iam::123456789012:role/test"


@contextlib.contextmanager
def running_server(tmp: Path) -> Iterator[DevServer]:
    """A dev server answering the endpoint, with :data:`MOCKS` as its mock config."""
    mocks = tmp / "mocks.json"
    mocks.write_text(json.dumps(MOCKS))
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {
            "PILOTHOUSE_DATA_DIR": str(tmp / "data"),
            "PILOTHOUSE_STORE": "sqlite",
            "PILOTHOUSE_QUEUE": "local",
            "PILOTHOUSE_ADMIN_KEY": ADMIN_KEY,
            "SFN_MOCK_CONFIG": str(mocks),
        }.items():
            mp.setenv(name, value)
        mp.delenv("PILOTHOUSE_SFN_MOCK_CONFIG", raising=False)
        mp.delenv("PILOTHOUSE_SFN_AUTH", raising=False)
        from pilothouse.wiring import reset_services

        reset_services()
        srv = DevServer("127.0.0.1", 0, tmp / "data", ROOT)
        srv.start()
        try:
            yield srv
        finally:
            srv.stop()
            reset_services()


def client(server: DevServer, key: str, *, key_id: str | None = None, token: str | None = "same"):
    return boto3.client(
        "stepfunctions",
        endpoint_url=f"{server.url}/sfn",
        region_name="us-east-1",
        aws_access_key_id=key_id or key.split("_")[1],
        aws_secret_access_key=key,
        aws_session_token=key if token == "same" else token,
        config=Config(retries={"max_attempts": 1}, inject_host_prefix=False),
    )


def new_key(server: DevServer, role: str) -> str:
    secret, _ = keys.create_key(server.services, name=f"sfn-{role}", role=role, created_by="test")
    return secret


def finished(sfn: Any, arn: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING" or time.monotonic() > deadline:
            return d
        time.sleep(0.02)


def code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]
