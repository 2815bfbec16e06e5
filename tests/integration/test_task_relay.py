"""A worker handling a task message runs the execution's next task itself (services/task_relay.py):
each task still takes its lease and each step is its own write; the task message of a sequential
execution's next task is not sent. Fan-outs, the bound, a failure and a killed worker go by message
(or the sweep), as before."""

from __future__ import annotations

import pytest

from pilothouse.services import execution_steps, executions, task_relay
from tests.support.controlplane import drain
from tests.support.executions import Functions, engine_services, sent_to, start, wf


@pytest.fixture
def fns(monkeypatch):
    return Functions(monkeypatch)


@pytest.fixture
def services(env, clock, fns):
    return engine_services(clock, fns)


def task_ids(services, monkeypatch) -> list[str]:
    """The task ids sent to the tasks queue from now on, in order."""
    return sent_to(services, monkeypatch, services.settings.tasks_queue, lambda body: body["task_id"])


@pytest.fixture
def task_messages(services, monkeypatch):
    return task_ids(services, monkeypatch)


def tasks(n: int) -> dict:
    """T0 -> T1 -> ... each a Task calling ``add`` (adds 1 to $.v)."""
    states = {f"T{i}": {"Type": "Task", "Resource": "add", "Next": f"T{i + 1}"} for i in range(n - 1)}
    states[f"T{n - 1}"] = {"Type": "Task", "Resource": "add", "End": True}
    return {"StartAt": "T0", "States": states}


def run(api, services, fns, definition: dict, name: str, pool, cloud) -> dict:
    fns.fns["add"] = lambda p: {"v": p["v"] + 1}
    wf(api, "flow", definition)
    start(api, "flow", {"v": 0}, name=name)
    assert drain(services, pool, cloud) == []
    return executions.describe(services, "flow", name)


def test_a_sequential_execution_sends_one_task_message(api, services, fns, pool, cloud, task_messages):
    """Given five Task states in a row, when the execution runs, then only the first task goes by
    message: the worker of that message runs the other four, each once, in order."""
    done = run(api, services, fns, tasks(5), "s", pool, cloud)
    assert done["status"] == "SUCCEEDED", (done.get("error"), done.get("cause"))
    assert done["output"] == {"v": 5}
    assert len(task_messages) == 1
    assert fns.calls["add"] == 5
    assert [p["v"] for p in fns.payloads["add"]] == [0, 1, 2, 3, 4]


def test_a_relay_is_bounded(api, services, fns, pool, cloud, task_messages, monkeypatch):
    """Given relays of at most 2 tasks, when 7 tasks run in a row, then every third goes by message."""
    monkeypatch.setattr(task_relay, "RELAY_TASKS", 2)
    done = run(api, services, fns, tasks(7), "b", pool, cloud)
    assert done["status"] == "SUCCEEDED" and done["output"] == {"v": 7}
    assert len(task_messages) == 3 and fns.calls["add"] == 7


def test_a_fan_out_goes_by_message(api, services, fns, pool, cloud, task_messages):
    """Given a Parallel of three Task branches, then each branch's task goes by message (none
    waits behind another in one worker), and the task after them is relayed."""

    def branch(i):
        return {
            "StartAt": f"B{i}",
            "States": {f"B{i}": {"Type": "Task", "Resource": "add", "End": True}},
        }  # noqa: E731

    definition = {
        "StartAt": "P",
        "States": {
            "P": {"Type": "Parallel", "Branches": [branch(i) for i in range(3)], "Next": "Sum"},
            "Sum": {"Type": "Pass", "Parameters": {"v.$": "$[0].v"}, "Next": "Last"},
            "Last": {"Type": "Task", "Resource": "add", "End": True},
        },
    }
    done = run(api, services, fns, definition, "f", pool, cloud)
    assert done["status"] == "SUCCEEDED" and done["output"] == {"v": 2}
    assert len(task_messages) == 3 and fns.calls["add"] == 4


def test_a_relayed_task_that_fails_unexpectedly_goes_by_message(
    api, services, fns, pool, cloud, task_messages, monkeypatch
):
    """Given the relayed task's lease failing once (a store error), then it is sent as a message,
    runs from it, and the execution ends as it would have."""
    real_lease = execution_steps.lease
    calls: list[str] = []
    failures: list[str] = []

    def flaky(services_, workflow, name, task_id):
        calls.append(task_id)
        if len(calls) == 2:  # the first relayed task (the first came by message)
            failures.append(task_id)
            raise RuntimeError("the store is unreachable")
        return real_lease(services_, workflow, name, task_id)

    monkeypatch.setattr(execution_steps, "lease", flaky)
    done = run(api, services, fns, tasks(3), "x", pool, cloud)
    assert done["status"] == "SUCCEEDED" and done["output"] == {"v": 3}
    assert failures and task_messages[1] == failures[0]
    assert fns.calls["add"] == 3


def test_a_worker_killed_holding_a_task_is_covered_by_the_sweep(
    api, services, fns, pool, cloud, task_messages, clock, monkeypatch
):
    """Given a worker killed after the step that started the next task (held, not sent), then the
    task has neither lease nor message until the sweep sends it; then it runs once."""

    class Killed(BaseException):
        pass

    def die(*args, **kwargs):
        raise Killed

    fns.fns["add"] = lambda p: {"v": p["v"] + 1}
    wf(api, "flow", tasks(2))
    start(api, "flow", {"v": 0}, name="k")
    assert drain(services, pool, cloud, [services.settings.executions_queue]) == []
    [message] = services.queue.receive(services.settings.tasks_queue)
    run_held, send = execution_steps._run_held, services.queue.send
    execution_steps._run_held = die  # the worker dies before it runs T1 ...
    services.queue.send = lambda *a, **kw: None  # ... and sends nothing more
    try:
        with pytest.raises(Killed):
            execution_steps.handle_task_message(services, message.body)
    finally:
        execution_steps._run_held, services.queue.send = run_held, send
    assert len(task_messages) == 1
    services.queue.delete(services.settings.tasks_queue, message.receipt_handle)
    record = executions.describe(services, "flow", "k")
    assert record["status"] == "RUNNING" and fns.calls["add"] == 1
    assert drain(services, pool, cloud) == []  # nothing to run: no message
    assert execution_steps.sweep(services, stale_after=0)["resent"] == 1
    assert drain(services, pool, cloud) == []
    done = executions.describe(services, "flow", "k")
    assert done["status"] == "SUCCEEDED" and done["output"] == {"v": 2} and fns.calls["add"] == 2


def test_no_relay_off_the_local_queue(api, env, clock, fns, pool, cloud, monkeypatch):
    """Given the in-memory queue (a stand-in for a cloud queue, whose workers have deadlines), every
    task goes by message."""
    monkeypatch.setenv("PILOTHOUSE_QUEUE", "memory")
    s = engine_services(clock, fns)
    sent = task_ids(s, monkeypatch)
    done = run(api, s, fns, tasks(3), "m", pool, cloud)
    assert done["status"] == "SUCCEEDED" and len(sent) == 3


def test_a_held_task_the_sweep_also_sends_runs_once(
    api, services, fns, pool, cloud, task_messages, monkeypatch
):
    """Given the sweep sending the message of a task the worker holds (it has no lease yet), then
    whichever of the worker and the message's receiver leases it first runs it; it runs once."""
    run_held = execution_steps._run_held
    swept: list[int] = []

    def sweep_first(services_, take):
        swept.append(execution_steps.sweep(services_, stale_after=0)["resent"])
        run_held(services_, take)

    monkeypatch.setattr(execution_steps, "_run_held", sweep_first)
    done = run(api, services, fns, tasks(3), "d", pool, cloud)
    assert done["status"] == "SUCCEEDED" and done["output"] == {"v": 3}
    assert fns.calls["add"] == 3
    assert sum(swept) >= 1 and len(task_messages) == 1 + sum(swept)
