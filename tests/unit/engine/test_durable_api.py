"""The resumable step-machine API: start/advance/complete_task/heartbeat/stop/redrive."""

import json

import pytest
from tests.support.engine import T0, events, machine

from pilothouse.engine import (
    CancelTask,
    EngineUsageError,
    ExecutionState,
    InvokeTask,
    ResumeAt,
    advance,
    complete_task,
    heartbeat,
    redrive,
    start,
    stop,
)


def invokes(effects):
    return [e for e in effects if isinstance(e, InvokeTask)]


def roundtrip(state):
    """Persist and reload, as a durable executor would between calls."""
    return ExecutionState.from_json(json.dumps(state.to_dict()))


TASK_THEN_WAIT = machine(
    {
        "T": {
            "Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
            "Next": "W",
            "Parameters": {"x.$": "$.x"},
            "TimeoutSeconds": 60,
            "HeartbeatSeconds": 10,
        },
        "W": {"Type": "Wait", "Seconds": 30, "End": True},
    }
)


def test_advance_complete_task_wait_cycle():
    """Given a Task then a Wait, When driven step by step, Then effects ask for the task and a resume time."""
    st = start(TASK_THEN_WAIT, {"x": 1}, execution_name="e1", now=T0)
    st, effects = advance(st, T0)
    [inv] = invokes(effects)
    assert (inv.resource, inv.payload, inv.state_name, inv.retry_count) == (
        "arn:aws:lambda:us-east-1:123456789012:function:f",
        {"x": 1},
        "T",
        0,
    )
    assert (inv.timeout_at, inv.heartbeat_at) == (T0 + 60, T0 + 10)
    assert ResumeAt(T0 + 10) in effects
    st = roundtrip(st)
    [pending] = st.outstanding_tasks()
    assert (pending["task_id"], pending["payload"]) == (inv.task_id, {"x": 1})
    st = complete_task(st, inv.task_id, {"y": 2}, now=T0 + 5)
    st, effects = advance(roundtrip(st), T0 + 5)
    assert effects == [ResumeAt(T0 + 35)] and st.status == "RUNNING"
    st, effects = advance(st, T0 + 20)
    assert effects == [ResumeAt(T0 + 35)]
    st, effects = advance(st, T0 + 35)
    assert effects == [] and st.status == "SUCCEEDED" and st.output == {"y": 2}


def test_heartbeat_extends_deadline():
    """heartbeat() pushes the heartbeat deadline; without it the task times out."""
    st = start(TASK_THEN_WAIT, {"x": 1}, now=T0)
    st, effects = advance(st, T0)
    [inv] = invokes(effects)
    st = heartbeat(st, inv.task_id, now=T0 + 8)
    st, effects = advance(st, T0 + 12)
    assert st.status == "RUNNING" and ResumeAt(T0 + 18) in effects
    st, effects = advance(st, T0 + 18)
    assert st.status == "FAILED" and st.error == "States.HeartbeatTimeout"
    assert CancelTask(inv.task_id, "timed out") in effects


def test_stale_completion_is_ignored():
    """Completing an unknown or already timed-out task changes nothing."""
    st = start(TASK_THEN_WAIT, {"x": 1}, now=T0)
    st, effects = advance(st, T0)
    before = st.to_dict()
    complete_task(st, "task-999", {"late": True}, now=T0 + 1)
    assert st.to_dict() == before


def test_stop_aborts_and_cancels_outstanding_tasks():
    """stop() → ABORTED with ExecutionAborted; the next advance reports CancelTask."""
    st = start(TASK_THEN_WAIT, {"x": 1}, now=T0)
    st, effects = advance(st, T0)
    [inv] = invokes(effects)
    st = stop(st, error="User.Stop", cause="enough", now=T0 + 1)
    assert (st.status, st.error, st.cause) == ("ABORTED", "User.Stop", "enough")
    assert events(st.history)[-1] == "ExecutionAborted"
    st, effects = advance(st, T0 + 2)
    assert effects == [CancelTask(inv.task_id, "execution aborted")]


def test_wait_for_task_token_exposes_token():
    """A .waitForTaskToken task carries a token, visible as $$.Task.Token in Parameters."""
    defn = machine(
        {
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"token.$": "$$.Task.Token"},
                "End": True,
            }
        }
    )
    st = start(defn, {}, now=T0)
    st, effects = advance(st, T0)
    [inv] = invokes(effects)
    assert inv.token and inv.payload == {"token": inv.token}
    assert st.find_task_by_token(inv.token) == inv.task_id
    complete_task(st, st.find_task_by_token(inv.token), "answered", now=T0 + 100)
    st, _ = advance(st, T0 + 100)
    assert st.output == "answered"


def test_retry_backoff_yields_resume_at():
    """A failed attempt with a retrier yields ResumeAt for the back-off, then a new InvokeTask."""
    defn = machine(
        {
            "T": {
                "Type": "Task",
                "Resource": "r",
                "End": True,
                "Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 3}],
            }
        }
    )
    st = start(defn, {}, now=T0)
    st, effects = advance(st, T0)
    complete_task(st, invokes(effects)[0].task_id, error="E", cause="c", now=T0)
    st, effects = advance(st, T0)
    assert effects == [ResumeAt(T0 + 3)]
    st, effects = advance(st, T0 + 3)
    [again] = invokes(effects)
    assert again.retry_count == 1


def test_redrive_reruns_only_failed_map_iterations():
    """Given a Map where one iteration failed, When redriven, Then only that iteration runs again."""
    defn = machine(
        {
            "Before": {"Type": "Task", "Resource": "before", "Next": "M"},
            "M": {
                "Type": "Map",
                "End": True,
                "ItemProcessor": {
                    "StartAt": "W",
                    "States": {"W": {"Type": "Task", "Resource": "work", "End": True}},
                },
            },
        }
    )
    st = start(defn, [1, 2, 3], now=T0)
    st, effects = advance(st, T0)
    complete_task(st, invokes(effects)[0].task_id, [1, 2, 3], now=T0)
    st, effects = advance(st, T0)
    tasks = invokes(effects)
    assert [t.payload for t in tasks] == [1, 2, 3]
    complete_task(st, tasks[0].task_id, "one", now=T0)
    complete_task(st, tasks[1].task_id, error="Broken", cause="2", now=T0)
    st, effects = advance(st, T0)
    assert st.status == "FAILED" and st.error == "Broken"
    assert CancelTask(tasks[2].task_id, "Map state failed") in effects
    st = redrive(roundtrip(st), now=T0 + 60)
    assert events(st.history)[-1] == "ExecutionRedriven"
    st, effects = advance(st, T0 + 60)
    rerun = invokes(effects)
    assert sorted(t.payload for t in rerun) == [2, 3]  # "Before" and item 1 are not re-run
    for t in rerun:
        complete_task(st, t.task_id, f"fixed-{t.payload}", now=T0 + 61)
    st, _ = advance(st, T0 + 61)
    assert st.status == "SUCCEEDED" and st.output == ["one", "fixed-2", "fixed-3"]


def test_redrive_reruns_only_failed_parallel_branch():
    """Redrive of a failed Parallel re-runs only the failed branch, from its failed state."""
    defn = machine(
        {
            "P": {
                "Type": "Parallel",
                "End": True,
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "a", "End": True}}},
                    {
                        "StartAt": "B1",
                        "States": {
                            "B1": {"Type": "Task", "Resource": "b1", "Next": "B2"},
                            "B2": {"Type": "Task", "Resource": "b2", "End": True},
                        },
                    },
                ],
            }
        }
    )
    st = start(defn, {}, now=T0)
    st, effects = advance(st, T0)
    a, b1 = invokes(effects)
    complete_task(st, a.task_id, "A", now=T0)
    complete_task(st, b1.task_id, "B1", now=T0)
    st, effects = advance(st, T0)
    [b2] = invokes(effects)
    complete_task(st, b2.task_id, error="Oops", now=T0)
    st, _ = advance(st, T0)
    assert st.status == "FAILED"
    st, effects = advance(redrive(st, now=T0 + 5), T0 + 5)
    [again] = invokes(effects)
    assert again.resource == "b2" and st.data["execution"]["RedriveCount"] == 1
    complete_task(st, again.task_id, "B2", now=T0 + 6)
    st, _ = advance(st, T0 + 6)
    assert st.output == ["A", "B2"]


def test_redrive_requires_a_failed_execution():
    """Only FAILED / TIMED_OUT / ABORTED executions can be redriven."""
    st = start(machine({"P": {"Type": "Pass", "End": True}}), {}, now=T0)
    st, _ = advance(st, T0)
    with pytest.raises(EngineUsageError):
        redrive(st, now=T0)


def test_state_is_json_serializable_mid_flight():
    """ExecutionState survives a JSON round trip at every step."""
    defn = machine(
        {
            "M": {
                "Type": "Map",
                "End": True,
                "MaxConcurrency": 1,
                "ItemProcessor": {
                    "StartAt": "T",
                    "States": {"T": {"Type": "Task", "Resource": "r", "End": True}},
                },
            }
        }
    )
    st = start(defn, [1, 2], now=T0)
    outputs = []
    while st.status == "RUNNING":
        st, effects = advance(roundtrip(st), T0)
        for inv in invokes(effects):
            st = complete_task(roundtrip(st), inv.task_id, inv.payload + 100, now=T0)
            outputs.append(inv.payload)
    assert st.output == [101, 102] and outputs == [1, 2]


def test_effects_serialize():
    """Effects convert to plain dicts for persistence."""
    assert ResumeAt(5.0).to_dict() == {"type": "ResumeAt", "time": 5.0}
    assert InvokeTask("t", "r", {}, "S").to_dict()["type"] == "InvokeTask"


def test_positions_show_nested_progress():
    """positions() lists the root and every running branch with its state and phase."""
    defn = machine(
        {
            "P": {
                "Type": "Parallel",
                "End": True,
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "a", "End": True}}},
                    {"StartAt": "B", "States": {"B": {"Type": "Wait", "Seconds": 9, "End": True}}},
                ],
            }
        }
    )
    st, _ = advance(start(defn, {}, now=T0), T0)
    assert [(p["state"], p["phase"]) for p in st.positions()] == [
        ("P", "CHILDREN"),
        ("A", "TASK_RUNNING"),
        ("B", "WAIT"),
    ]
