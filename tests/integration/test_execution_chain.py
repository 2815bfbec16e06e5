"""A queue worker goes on with the steps due at once itself (services/execution_chain.py): every
state is still its own persisted step, the queue round trip is paid once per chain."""

from __future__ import annotations

import json
import threading

import pytest

from pilothouse.errors import StoreError
from pilothouse.services import execution_chain, execution_steps, executions, workflows
from pilothouse.settings import get_settings
from pilothouse.wiring import Services, register_services
from tests.support.controlplane import drain
from tests.support.executions import Functions, pass_chain, start, wf


@pytest.fixture
def fns(monkeypatch):
    return Functions(monkeypatch)


@pytest.fixture
def services(env, clock, fns):
    s = Services(get_settings(), clock, invoker=fns)
    register_services(s)
    return s


@pytest.fixture
def sent(services, monkeypatch):
    """The bodies sent to the executions queue (advance messages), in order."""
    bodies: list[dict] = []
    original = services.queue.send

    def send(queue, body, **kw):
        if queue == services.settings.executions_queue:
            bodies.append(json.loads(body))
        return original(queue, body, **kw)

    monkeypatch.setattr(services.queue, "send", send)
    return bodies


def run_all(services, pool, cloud) -> None:
    assert drain(services, pool, cloud) == []


def events_of(services, name: str, workflow: str = "flow") -> list[dict]:
    return executions.history(services, workflow, name, limit=10_000)[0]


def assert_gapless(events: list[dict]) -> None:
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))


def test_a_chain_of_pass_states_takes_one_message_and_one_step_per_state(services, pool, cloud, sent):
    """Given a chain of 20 Pass states, when its first message is handled, then the worker applies
    all 20 steps itself (no advance message after the start's), each state its own persisted step,
    with the history the one-message-per-step executor wrote."""
    workflows.create(services, "flow", pass_chain(20), actor="test")
    executions.start(services, "flow", name="c", input={"x": 1}, actor="test")
    run_all(services, pool, cloud)
    done = executions.describe(services, "flow", "c")
    assert done["status"] == "SUCCEEDED" and done["step"] == 20
    assert len(sent) == 1 and sent[0]["step"] == 0  # the start's message only
    events = events_of(services, "c")
    assert_gapless(events)
    assert sum(e["type"] == "PassStateEntered" for e in events) == 20


def test_a_chain_is_bounded_and_hands_over_by_message(services, pool, cloud, sent, monkeypatch):
    """Given chains limited to 5 steps, when a 12-state execution runs, then the worker hands over
    by an advance message after each 6 steps (the message's own step and 5 chained) and the
    execution still ends with every state its own step."""
    monkeypatch.setattr(execution_chain, "CHAIN_STEPS", 5)
    workflows.create(services, "flow", pass_chain(12), actor="test")
    executions.start(services, "flow", name="b", input={}, actor="test")
    run_all(services, pool, cloud)
    done = executions.describe(services, "flow", "b")
    assert done["status"] == "SUCCEEDED" and done["step"] == 12
    assert [m["step"] for m in sent] == [0, 6]
    assert_gapless(events_of(services, "b"))


MAP_OF_TASKS = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {
                "StartAt": "Prepare",
                "States": {
                    "Prepare": {"Type": "Pass", "Parameters": {"value.$": "$"}, "Next": "Double"},
                    "Double": {
                        "Type": "Task",
                        "Resource": "arn:aws:lambda:us-east-1:000000000000:function:double",
                        "End": True,
                    },
                },
            },
            "End": True,
        }
    },
}


def test_tasks_scheduled_by_a_chained_step_are_sent(api, services, pool, cloud, fns):
    """Given a Map whose iterations run a Pass then a Task, a step schedules one iteration's task
    while the next iteration's Pass is due at once: the task's message is sent although the worker
    goes on itself, and every task runs exactly once."""
    fns.fns["double"] = lambda p: {"value": p["value"] * 2}
    wf(api, "flow", MAP_OF_TASKS)
    start(api, "flow", {"items": [1, 2, 3, 4]}, name="m")
    run_all(services, pool, cloud)
    done = executions.describe(services, "flow", "m")
    assert done["status"] == "SUCCEEDED", (done["error"], done["cause"])
    assert done["output"] == [{"value": 2}, {"value": 4}, {"value": 6}, {"value": 8}]
    assert fns.calls["double"] == 4
    assert_gapless(events_of(services, "m"))


def test_a_stop_between_chained_steps_ends_the_chain(services, pool, cloud, monkeypatch):
    """Given a stop request that lands between two chained steps, then the chain's next write
    finds the record changed, the chain ends there and the execution is ABORTED with no state
    applied after the stop."""
    calls = {"n": 0}
    real = execution_chain.step_once

    def step_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            executions.stop(services, "flow", "s", error="Halt", cause="by the test")
        return real(*args, **kwargs)

    monkeypatch.setattr(execution_chain, "step_once", step_once)
    workflows.create(services, "flow", pass_chain(20), actor="test")
    executions.start(services, "flow", name="s", input={}, actor="test")
    run_all(services, pool, cloud)
    done = executions.describe(services, "flow", "s")
    assert (done["status"], done["error"]) == ("ABORTED", "Halt")
    events = events_of(services, "s")
    assert_gapless(events)
    assert events[-1]["type"] == "ExecutionAborted"
    assert sum(e["type"] == "PassStateExited" for e in events) == 3  # the message's step + 2 chained


def test_a_failing_chained_step_hands_over_by_message(services, pool, cloud, sent, monkeypatch):
    """Given the store failing once in the middle of a chain, then the worker hands the execution
    over by an advance message for the last step it stored, and the execution finishes."""
    calls = {"n": 0}
    real = execution_chain.step_once

    def step_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise StoreError("the store is busy")
        return real(*args, **kwargs)

    monkeypatch.setattr(execution_chain, "step_once", step_once)
    workflows.create(services, "flow", pass_chain(10), actor="test")
    executions.start(services, "flow", name="f", input={}, actor="test")
    run_all(services, pool, cloud)
    done = executions.describe(services, "flow", "f")
    assert done["status"] == "SUCCEEDED" and done["step"] == 10
    assert [m["step"] for m in sent] == [0, 4]
    assert_gapless(events_of(services, "f"))


def test_two_workers_racing_on_one_message_apply_each_state_once(services, pool, cloud):
    """Given the same advance message handled by two workers at once (a duplicate delivery), then
    their chains race on conditional writes: each state is applied once, the history is gapless
    and the execution succeeds."""
    workflows.create(services, "flow", pass_chain(30), actor="test")
    executions.start(services, "flow", name="r", input={}, actor="test")
    [message] = services.queue.receive(services.settings.executions_queue, max_messages=1)
    barrier = threading.Barrier(2)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(execution_steps.handle_step_message(services, message.body))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    # one worker lost the race at once; the other chained (and handed over if its chain ran long)
    assert sorted(results)[-1] == "stale" and sorted(results)[0] in ("RUNNING", "SUCCEEDED")
    run_all(services, pool, cloud)
    done = executions.describe(services, "flow", "r")
    assert done["status"] == "SUCCEEDED" and done["step"] == 30
    events = events_of(services, "r")
    assert_gapless(events)
    assert sum(e["type"] == "PassStateEntered" for e in events) == 30


def test_without_chains_every_step_is_a_message(services, pool, cloud, sent, monkeypatch):
    """Given chains turned off (``CHAIN_STEPS = 0``), then every step is handed over by its own
    advance message, as before chains, with the same history."""
    monkeypatch.setattr(execution_chain, "CHAIN_STEPS", 0)
    workflows.create(services, "flow", pass_chain(8), actor="test")
    executions.start(services, "flow", name="n", input={}, actor="test")
    run_all(services, pool, cloud)
    done = executions.describe(services, "flow", "n")
    assert done["status"] == "SUCCEEDED" and done["step"] == 8
    assert [m["step"] for m in sent] == list(range(8))
    assert_gapless(events_of(services, "n"))
