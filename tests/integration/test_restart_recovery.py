"""What ``pilothouse dev`` takes back after a SIGKILL whatever its queues (issue 15 §3: a cloud
queue keeps a dead worker's message invisible for its visibility timeout, so the restart's sweep
must not wait for it), and a command that meets a background write rather than another command."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.support.controlplane import drain
from tests.support.specs import spec

CALLBACK_FLOW = {
    "StartAt": "Ask",
    "States": {
        "Ask": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "ask", "Payload": {"token.$": "$$.Task.Token"}},
            "End": True,
        }
    },
}


class _Ask:
    """A test invoker: ``ask`` keeps the tokens it is handed."""

    def __init__(self) -> None:
        self.tokens: list[str] = []

    def timeout_of(self, name: str) -> float:
        return 5.0

    def invoke(self, name: str, payload: Any) -> Any:
        self.tokens.append(payload["Payload"]["token"] if "Payload" in payload else payload["token"])
        return None


@pytest.fixture
def invoker() -> _Ask:
    return _Ask()


@pytest.fixture
def services(env, clock, monkeypatch, invoker):
    from pilothouse.settings import get_settings
    from pilothouse.wiring import Services, register_services

    monkeypatch.setenv("PILOTHOUSE_WORKFLOW_TASK_FUNCTIONS", "ask")
    s = Services(get_settings(), clock, invoker=invoker)
    register_services(s)
    return s


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(done.stdout)


def _lease_of(services, task_id: str) -> dict:
    from pilothouse.repositories.workflows import RECORD_SK, execution_pk

    return services.store.get(execution_pk("flow", "x"), RECORD_SK).data["task_leases"][task_id]


def _set_lease(services, task_id: str, **fields: Any) -> None:
    from pilothouse.ports import Item
    from pilothouse.repositories.workflows import RECORD_SK, execution_pk

    item = services.store.get(execution_pk("flow", "x"), RECORD_SK)
    leases = {**item.data["task_leases"], task_id: {**item.data["task_leases"][task_id], **fields}}
    services.store.put(Item(item.pk, item.sk, {**item.data, "task_leases": leases}), if_version=item.version)


def test_a_callback_task_cut_short_by_a_dead_worker_runs_again_after_the_restart(
    api, services, invoker, pool, cloud
):
    """Given a callback task whose worker took the lease and died before its function returned (a
    dead pid on this host), When the restarted control plane sweeps (``own_host``, as ``pilothouse
    dev`` does whatever its queues), Then the function runs again and its token completes the
    execution; a lease marked invoked (the function had returned) is left alone."""
    from pilothouse.services import execution_steps, executions

    assert api.post("/v1/workflows", {"name": "flow", "definition": CALLBACK_FLOW})[0] == 201
    assert api.post("/v1/workflows/flow/executions", {"name": "x", "input": {}})[0] == 201
    s = services.settings
    drain(services, pool, cloud, [s.executions_queue])
    [message] = services.queue.receive(s.tasks_queue, max_messages=10)
    task_id = json.loads(message.body)["task_id"]
    assert execution_steps.lease(services, "flow", "x", task_id) is not None  # ...and the worker dies
    services.queue.delete(s.tasks_queue, message.receipt_handle)  # its receipt died with it
    assert _lease_of(services, task_id)["invoked"] is False
    _set_lease(services, task_id, pid=_dead_pid())

    assert execution_steps.sweep(services, stale_after=0, own_host=True)["lapsed"] == 1
    drain(services, pool, cloud)
    [token] = invoker.tokens
    assert _lease_of(services, task_id)["invoked"] is True  # the function returned this time
    _set_lease(services, task_id, pid=_dead_pid())  # its worker is gone too, but it had handed the token on
    assert execution_steps.sweep(services, stale_after=0, own_host=True)["lapsed"] == 0
    drain(services, pool, cloud)
    assert invoker.tokens == [token]

    assert api.post("/v1/task-tokens/success", {"token": token, "output": {"ok": True}})[0] == 200
    drain(services, pool, cloud)
    done = executions.describe(services, "flow", "x")
    assert (done["status"], done["output"]) == ("SUCCEEDED", {"ok": True}), done


def test_a_command_meeting_a_background_write_is_accepted_and_racing_commands_still_409(
    api, services, monkeypatch
):
    """Given a registered component, When a background write (not a command) moves its version
    between a command's read and its write, Then the command is accepted on the new version;
    When another command wins in between instead, Then the loser is a 409 naming the new state."""
    from pilothouse.domain.lifecycle import Command
    from pilothouse.errors import VersionConflict
    from pilothouse.services import components

    real_get = components.get

    def between(action):
        done: list[int] = []

        def get(ctx, name):
            record = real_get(ctx, name)
            if not done:
                done.append(1)
                action(ctx, record)
            return record

        return get

    def touch(ctx, record):  # what the health sweep does: the record again, a version further
        components.repo(ctx).update_with_events(record, dict(record.data), [])

    assert api.post("/v1/components", spec("web"))[0] == 201
    monkeypatch.setattr(components, "get", between(touch))
    view = components.command(services, "web", Command.DEPLOY, {}, actor="key:test")
    assert view["state"] == "Deploying"

    assert api.post("/v1/components", spec("api"))[0] == 201

    def racer(ctx, record):  # another caller's deploy wins in between
        components.command(ctx, "api", Command.DEPLOY, {}, actor="key:b")

    monkeypatch.setattr(components, "get", between(racer))
    with pytest.raises(VersionConflict) as lost:
        components.command(services, "api", Command.DEPLOY, {}, actor="key:a")
    assert lost.value.extra["state"] == "Deploying"
