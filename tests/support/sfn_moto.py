"""Step Functions on a moto server with executions enabled, for tests that run a workflow on AWS's
orchestrator: the settings that point Pilothouse at it, and a stand-in for the ``run_task_message``
function that answers the workflow's task messages until the execution ends."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from tests.support.moto_server import MotoServer


def use_step_functions_on(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """Reset ``moto`` with executions on, and point the settings at it (fresh queue names)."""
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


def answer_task_messages(
    services: Any, api: Any, workflow: str, name: str, timeout: float = 40.0
) -> dict[str, Any]:
    """Be the run_task_message function: answer task messages until the execution ends."""
    from pilothouse.services import task_messages

    queue = services.settings.task_messages_queue
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in services.queue.receive(queue, max_messages=10, wait_seconds=0.2):
            task_messages.handle(services, msg.body)
            services.queue.delete(queue, msg.receipt_handle)
        ex: dict[str, Any] = api.get(f"/v1/workflows/{workflow}/executions/{name}")[2]
        if ex["status"] != "RUNNING":
            return ex
    raise AssertionError(f"{workflow}/{name} still running after {timeout} s")
