"""History event shapes, the synchronous runner (callbacks, waits) and Step Functions Local mocks."""

import json

import pytest
from tests.support.engine import T0, events, machine

from pilothouse.engine import PENDING, mock_invoker, run


def test_history_ids_previous_ids_and_details(go):
    """Events have sequential ids, previousEventId links and AWS detail fields."""
    defn = machine(
        {
            "P": {"Type": "Pass", "Result": {"r": 1}, "Next": "T"},
            "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True},
        }
    )
    result = go(defn, {"in": 1})
    h = result.history
    assert [e["id"] for e in h] == list(range(1, len(h) + 1))
    assert all(e["previousEventId"] == e["id"] - 1 for e in h)
    assert events(result) == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskSucceeded",
        "TaskStateExited",
        "ExecutionSucceeded",
    ]
    assert json.loads(h[0]["executionStartedEventDetails"]["input"]) == {"in": 1}
    assert h[1]["stateEnteredEventDetails"] == {"name": "P", "input": '{"in":1}'}
    assert h[2]["stateExitedEventDetails"] == {"name": "P", "output": '{"r":1}'}
    sched = h[4]["taskScheduledEventDetails"]
    assert (sched["resourceType"], sched["resource"], json.loads(sched["parameters"])) == (
        "lambda",
        "invoke",
        {"r": 1},
    )
    assert json.loads(h[-1]["executionSucceededEventDetails"]["output"]) == {"r": 1}
    assert h[0]["timestamp"] == "2023-11-14T22:13:20.000Z"


def test_failure_history_details(go):
    """TaskFailed and ExecutionFailed carry error and cause."""
    from tests.support.engine import fails_with

    result = go(machine({"T": {"Type": "Task", "Resource": "r", "End": True}}), invoke=fails_with("E", "why"))
    failed = next(e for e in result.history if e["type"] == "TaskFailed")["taskFailedEventDetails"]
    assert (failed["error"], failed["cause"]) == ("E", "why")
    assert result.history[-1]["executionFailedEventDetails"] == {"error": "E", "cause": "why"}


def test_wait_variants(go, clock):
    """Wait supports Seconds, SecondsPath, Timestamp and TimestampPath on the virtual clock."""
    defn = machine(
        {
            "A": {"Type": "Wait", "Seconds": 5, "Next": "B"},
            "B": {"Type": "Wait", "SecondsPath": "$.s", "Next": "C"},
            "C": {"Type": "Wait", "TimestampPath": "$.until", "Next": "D"},
            "D": {"Type": "Wait", "Timestamp": "2000-01-01T00:00:00Z", "End": True},
        }
    )
    result = go(defn, {"s": 10, "until": "2023-11-14T22:15:00Z"})
    assert result.status == "SUCCEEDED"
    assert clock.now() == T0 + 100  # 22:13:20 + 100 s = 22:15:00; a past timestamp does not wait
    assert events(result, "WaitStateEntered").count("WaitStateEntered") == 4


def test_wait_seconds_path_must_be_non_negative_integer(go):
    """A bad SecondsPath value → States.Runtime."""
    defn = machine({"W": {"Type": "Wait", "SecondsPath": "$.s", "End": True}})
    assert go(defn, {"s": -1}).error == "States.Runtime"


def test_callback_pattern_with_pending_and_callbacks(go):
    """An invoker returns PENDING; the runner asks callbacks(token) for the answer."""
    defn = machine(
        {
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"MessageBody": {"token.$": "$$.Task.Token"}},
                "End": True,
            }
        }
    )
    tokens = []

    def invoke(resource, payload, ctx):
        tokens.append(payload["MessageBody"]["token"])
        assert ctx.token == tokens[-1]
        return PENDING

    answers = {}

    def callbacks(token):
        answers[token] = answers.get(token, 0) + 1
        return PENDING if answers[token] < 2 else {"output": {"approved": True}}

    result = go(defn, invoke=invoke, callbacks=callbacks)
    assert result.output == {"approved": True} and answers == {tokens[0]: 2}


def test_callback_failure_and_deadlock(go):
    """callbacks may fail the task; with no callbacks and no timers the run is stopped as deadlocked."""
    defn = machine({"T": {"Type": "Task", "Resource": "x.waitForTaskToken", "End": True}})
    failed = go(defn, invoke=lambda r, p, c: PENDING, callbacks=lambda t: {"error": "Denied", "cause": "no"})
    assert (failed.error, failed.cause) == ("Denied", "no")
    stuck = go(defn, invoke=lambda r, p, c: PENDING)
    assert (stuck.status, stuck.error) == ("ABORTED", "Runner.Deadlock")


def test_succeed_state_and_output_path(go):
    """Succeed ends the execution with its filtered input."""
    result = go(machine({"S": {"Type": "Succeed", "InputPath": "$.a", "OutputPath": "$.b"}}), {"a": {"b": 3}})
    assert result.output == 3 and events(result)[-3:] == [
        "SucceedStateEntered",
        "SucceedStateExited",
        "ExecutionSucceeded",
    ]


MOCK_CONFIG = {
    "StateMachines": {
        "Order": {
            "TestCases": {
                "HappyPath": {"Charge": "ChargeOk", "Approve": "Approved"},
                "RetryPath": {"Charge": "ChargeFlaky", "Approve": "Approved"},
            }
        }
    },
    "MockedResponses": {
        "ChargeOk": {"0": {"Return": {"charged": True}}},
        "ChargeFlaky": {
            "0": {"Throw": {"Error": "Charge.Busy", "Cause": "busy"}},
            "1-2": {"Throw": {"Error": "Charge.Busy", "Cause": "still busy"}},
            "3": {"Return": {"charged": "late"}},
        },
        "Approved": {"0": {"Return": {"approved": True}}},
    },
}

ORDER = machine(
    {
        "Charge": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Next": "Approve",
            "ResultPath": "$.charge",
            "Retry": [{"ErrorEquals": ["Charge.Busy"], "IntervalSeconds": 1, "MaxAttempts": 3}],
        },
        "Approve": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"token.$": "$$.Task.Token"},
            "ResultPath": "$.approval",
            "End": True,
        },
    }
)


def test_mock_happy_path_including_wait_for_task_token(clock):
    """Mocked responses answer by state name, including callback tasks."""
    invoke = mock_invoker(MOCK_CONFIG, "Order", "HappyPath")
    result = run(ORDER, {"id": 1}, invoke=invoke, clock=clock, state_machine_name="Order")
    assert result.output == {"id": 1, "charge": {"charged": True}, "approval": {"approved": True}}


def test_mock_invocation_ranges_drive_retries(clock):
    """Invocation keys '0', '1-2', '3' pick responses per attempt."""
    invoke = mock_invoker(json.dumps(MOCK_CONFIG), "Order", "RetryPath")
    result = run(ORDER, {}, invoke=invoke, clock=clock)
    assert result.output["charge"] == {"charged": "late"}
    assert invoke.counts == {"Charge": 4, "Approve": 1}
    assert clock.now() == T0 + 1 + 2 + 4


def test_mock_from_file_and_missing_mock(tmp_path, clock):
    """Configs load from files; unmocked states fail unless a fallback invoker is given."""
    path = tmp_path / "mocks.json"
    path.write_text(json.dumps(MOCK_CONFIG))
    defn = machine({"Other": {"Type": "Task", "Resource": "r", "End": True}})
    result = run(defn, {}, invoke=mock_invoker(str(path), "Order", "HappyPath"), clock=clock)
    assert result.error == "Pilothouse.MockNotFound"
    fallback = mock_invoker(MOCK_CONFIG, "Order", "HappyPath", fallback=lambda r, p, c: "real")
    assert run(defn, {}, invoke=fallback, clock=clock).output == "real"


def test_mock_config_errors():
    """Unknown test cases and malformed responses are rejected up front."""
    with pytest.raises(ValueError):
        mock_invoker(MOCK_CONFIG, "Order", "NoSuchCase")
    bad = {"StateMachines": {"S": {"TestCases": {"C": {"A": "R"}}}}, "MockedResponses": {"R": {"0": {}}}}
    with pytest.raises(ValueError):
        mock_invoker(bad, "S", "C")


def test_endless_loop_hits_history_limit(go):
    """An endless Pass loop fails with States.Runtime once history reaches 25,000 events."""
    # AWS refuses a machine without a terminal state (MISSING_END_STATE), not an unreachable one
    defn = machine(
        {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}, "Never": {"Type": "Succeed"}}
    )
    result = go(defn)
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert len(result.history) == 25000


def test_engine_import_does_not_load_jsonata():
    """Importing the engine stays cheap: jsonata is imported only when an expression runs."""
    import os
    import subprocess
    import sys

    import pilothouse.engine as engine

    shared = os.path.dirname(os.path.dirname(os.path.dirname(engine.__file__)))
    code = "import sys, pilothouse.engine as e; print('jsonata' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": shared},
    )
    assert out.stdout.strip() == "False"
