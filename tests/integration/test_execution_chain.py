"""A queue worker goes on with the steps due at once itself (services/execution_chain.py): every
step is still its own persisted write, the queue round trip is paid once per chain.

The chain's tests run one state per step (``workflow_states_per_step=1``), so that each state is a
step they can count; the last tests check that a step applies the states due at once together
(the default) and writes the same history.
"""

from __future__ import annotations

import threading

import pytest

from pilothouse.errors import StoreError
from pilothouse.services import execution_chain, execution_steps, executions, workflows
from pilothouse.settings import get_settings
from pilothouse.wiring import Services, register_services
from tests.support.controlplane import drain
from tests.support.executions import Functions, engine_services, pass_chain, sent_to, start, wf


@pytest.fixture
def fns(monkeypatch):
    return Functions(monkeypatch)


@pytest.fixture
def services(env, clock, fns, monkeypatch):
    monkeypatch.setenv("PILOTHOUSE_WORKFLOW_STATES_PER_STEP", "1")
    return engine_services(clock, fns)


def batching(services, monkeypatch, states: int, text_chars: int = 64 * 1024) -> Services:
    """The same store, queue and functions, with steps of up to ``states`` states, registered for
    the settings the functions read (from the environment)."""
    monkeypatch.setenv("PILOTHOUSE_WORKFLOW_STATES_PER_STEP", str(states))
    monkeypatch.setenv("PILOTHOUSE_WORKFLOW_STEP_TEXT_CHARS", str(text_chars))
    s = Services(
        get_settings(), services.clock, store=services.store, queue=services.queue, invoker=services.invoker
    )
    register_services(s)
    return s


@pytest.fixture
def sent(services, monkeypatch):
    """The bodies sent to the executions queue (advance messages), in order."""
    return sent_to(services, monkeypatch, services.settings.executions_queue)


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


def comparable(events: list[dict]) -> list[dict]:
    """Events without their timestamps (a step stamps all its events with its one time)."""
    return [{k: v for k, v in e.items() if k != "timestamp"} for e in events]


MIXED = {
    "StartAt": "P0",
    "States": {
        **{
            f"P{i}": {"Type": "Pass", "Result": i, "ResultPath": f"$.p{i}", "Next": f"P{i + 1}"}
            for i in range(5)
        },
        "P5": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.p4", "NumericEquals": 4, "Next": "Call"}],
            "Default": "Nope",
        },
        "Call": {
            "Type": "Task",
            "Resource": "double",
            "InputPath": "$.p4",
            "ResultPath": "$.call",
            "Next": "Map",
        },
        "Map": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}},
            "ResultPath": "$.items",
            "Next": "Done",
        },
        "Nope": {"Type": "Fail", "Error": "Nope"},
        "Done": {"Type": "Succeed"},
    },
}


def test_a_step_applies_the_states_due_at_once_and_writes_the_same_history(
    api, services, pool, cloud, fns, monkeypatch
):
    """Given Pass, Choice and a Task, when run with one state per step and with up to 32 states per
    step, then both write the same history (but for the times), the batched run takes far fewer
    steps, and the task runs once in each: a Task ends a step, as its message is sent only once the
    step that scheduled it is stored."""
    fns.fns["double"] = lambda p: p * 2
    linear = {**MIXED, "States": {**MIXED["States"], "Call": {**MIXED["States"]["Call"], "Next": "Done"}}}
    del linear["States"]["Map"]
    wf(api, "flow", linear)
    start(api, "flow", {}, name="one")
    run_all(services, pool, cloud)
    batched = batching(services, monkeypatch, 32)
    start(api, "flow", {}, name="many")
    run_all(batched, pool, cloud)
    one, many = executions.describe(services, "flow", "one"), executions.describe(batched, "flow", "many")
    assert one["status"] == many["status"] == "SUCCEEDED", (one["cause"], many["cause"])
    assert one["output"] == many["output"] and many["output"]["call"] == 8
    assert fns.calls["double"] == 2
    assert_gapless(events_of(services, "one"))
    assert comparable(events_of(services, "many")) == comparable(events_of(services, "one"))
    assert (one["step"], many["step"]) == (9, 2)  # 8 states and the answer | P0..Call, then the rest


def test_a_batched_map_writes_the_history_of_the_in_memory_engine(
    api, services, pool, cloud, fns, monkeypatch
):
    """Given an inline Map among Pass and Task states, when run durably with up to 32 states per step,
    then its history is the one the in-memory engine writes for the same definition and input."""
    from pilothouse.engine import run

    fns.fns["double"] = lambda p: p * 2
    batched = batching(services, monkeypatch, 32)
    wf(api, "flow", MIXED)
    start(api, "flow", {"items": list(range(6))}, name="m")
    run_all(batched, pool, cloud)
    done = executions.describe(batched, "flow", "m")
    assert done["status"] == "SUCCEEDED", done["cause"]
    memory = run(MIXED, {"items": list(range(6))}, invoke=lambda resource, payload, ctx: payload * 2)
    assert done["output"] == memory.output
    events = events_of(batched, "m")
    assert_gapless(events)
    drop = ("timestamp", "taskScheduledEventDetails", "taskStartedEventDetails", "taskSucceededEventDetails")
    assert [{k: v for k, v in e.items() if k not in drop} for e in events] == [
        {k: v for k, v in e.items() if k not in drop} for e in memory.history
    ]
    assert fns.calls["double"] == 1


def test_a_step_applies_states_up_to_its_text_bound(services, pool, cloud, monkeypatch):
    """Given states whose input and output are 20,000 characters each, when a step may apply 32
    states but only about 64 KiB of their text, then it applies two per step (at least one always)."""
    batched = batching(services, monkeypatch, 32, text_chars=64 * 1024)
    workflows.create(batched, "flow", pass_chain(20), actor="test")
    executions.start(batched, "flow", name="big", input={"blob": "x" * 20_000}, actor="test")
    run_all(batched, pool, cloud)
    done = executions.describe(batched, "flow", "big")
    assert done["status"] == "SUCCEEDED" and done["step"] == 10
    assert_gapless(events_of(batched, "big"))
    tiny = batching(services, monkeypatch, 32, text_chars=1024)
    executions.start(tiny, "flow", name="tiny", input={"blob": "x" * 20_000}, actor="test")
    run_all(tiny, pool, cloud)
    assert executions.describe(tiny, "flow", "tiny")["step"] == 20  # one state per step, not none
