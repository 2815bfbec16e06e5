"""Retry timing on the virtual clock, Catch ordering, error name matching, timeouts."""

from tests.support.engine import T0, events, fails_with, machine

from pilothouse.engine import TaskFailure
from pilothouse.engine.errors import error_matches
from pilothouse.engine.retry import retry_delay


def flaky(failures, error="Boom"):
    """Fail the first `failures` calls, then succeed; record call times."""
    calls = []

    def invoke(resource, payload, ctx):
        calls.append(ctx.retry_count)
        if len(calls) <= failures:
            raise TaskFailure(error, f"attempt {len(calls)}")
        return {"ok": len(calls)}

    invoke.calls = calls
    return invoke


def scheduled_times(result):
    return [e["timestamp"] for e in result.history if e["type"] == "TaskScheduled"]


def task(retry=None, catch=None, **kw):
    st = {"Type": "Task", "Resource": "r", "End": True, **kw}
    if retry is not None:
        st["Retry"] = retry
    if catch is not None:
        st["Catch"] = catch
    return st


def test_retry_backoff_timing(go, clock):
    """IntervalSeconds 1 and BackoffRate 2 → attempts at t+0, +1, +3, +7."""
    inv = flaky(3)
    result = go(
        machine(
            {"T": task([{"ErrorEquals": ["Boom"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 3}])}
        ),
        invoke=inv,
    )
    assert result.status == "SUCCEEDED" and result.output == {"ok": 4}
    assert [t[17:19] for t in scheduled_times(result)] == ["20", "21", "23", "27"]
    assert inv.calls == [0, 1, 2, 3]
    assert clock.now() == T0 + 7


def test_retry_defaults_interval_1_backoff_2_three_attempts(go, clock):
    """Defaults: IntervalSeconds 1, BackoffRate 2.0, MaxAttempts 3 → four attempts then failure."""
    inv = flaky(10)
    result = go(machine({"T": task([{"ErrorEquals": ["States.ALL"]}])}), invoke=inv)
    assert (result.status, result.error, result.cause) == ("FAILED", "Boom", "attempt 4")
    assert len(inv.calls) == 4
    assert clock.now() == T0 + 1 + 2 + 4


def test_max_attempts_zero_never_retries(go):
    """MaxAttempts 0 means the retrier never retries."""
    inv = flaky(1)
    result = go(machine({"T": task([{"ErrorEquals": ["Boom"], "MaxAttempts": 0}])}), invoke=inv)
    assert result.status == "FAILED" and len(inv.calls) == 1


def test_max_delay_seconds_caps_backoff():
    """MaxDelaySeconds caps the exponential delay; FULL jitter stays within [0, cap]."""
    r = {
        "ErrorEquals": ["X"],
        "IntervalSeconds": 3,
        "BackoffRate": 10,
        "MaxAttempts": 5,
        "MaxDelaySeconds": 20,
    }
    assert [retry_delay(r, n) for n in range(5)] == [3, 20, 20, 20, 20]
    assert retry_delay(r, 5) is None
    jitter = dict(r, JitterStrategy="FULL")
    assert all(0 <= retry_delay(jitter, n) <= 20 for n in range(5))


def test_first_matching_retrier_is_used_with_own_counter(go, clock):
    """Each retrier keeps its own attempt count; only the first match applies."""
    errors = ["A", "B", "A"]

    def invoke(resource, payload, ctx):
        if errors:
            raise TaskFailure(errors.pop(0))
        return "done"

    retry = [
        {"ErrorEquals": ["A"], "IntervalSeconds": 10, "MaxAttempts": 2, "BackoffRate": 1},
        {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 1},
    ]
    result = go(machine({"T": task(retry)}), invoke=invoke)
    assert result.output == "done"
    assert clock.now() == T0 + 10 + 1 + 10


def test_retry_count_in_context(go):
    """$$.State.RetryCount counts retries of the current state."""
    seen = []

    def invoke(resource, payload, ctx):
        seen.append(payload["n"])
        if len(seen) < 3:
            raise TaskFailure("E")
        return 1

    go(
        machine({"T": task([{"ErrorEquals": ["E"]}], Parameters={"n.$": "$$.State.RetryCount"})}),
        invoke=invoke,
    )
    assert seen == [0, 1, 2]


def test_catch_first_matching_catcher_wins(go):
    """Catchers are tried in order; ResultPath places the error output."""
    defn = machine(
        {
            "T": task(
                catch=[
                    {"ErrorEquals": ["Other"], "Next": "Wrong"},
                    {"ErrorEquals": ["Boom", "Other2"], "ResultPath": "$.err", "Next": "Right"},
                    {"ErrorEquals": ["States.ALL"], "Next": "Wrong"},
                ],
                End=None,
            ),
            "Wrong": {"Type": "Fail", "Error": "wrong"},
            "Right": {"Type": "Pass", "End": True},
        }
    )
    del defn["States"]["T"]["End"]
    defn["States"]["T"]["Next"] = "Right"
    result = go(defn, {"in": 1}, invoke=fails_with("Boom", "bad"))
    assert result.output == {"in": 1, "err": {"Error": "Boom", "Cause": "bad"}}
    assert events(result, "TaskFailed", "TaskStateExited", "PassStateEntered") == [
        "TaskFailed",
        "TaskStateExited",
        "PassStateEntered",
    ]


def test_retry_then_catch_after_exhaustion(go, clock):
    """When retries are exhausted, Catch handles the error."""
    defn = machine(
        {
            "T": {
                "Type": "Task",
                "Resource": "r",
                "Next": "S",
                "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 2}],
                "Catch": [{"ErrorEquals": ["Boom"], "Next": "C"}],
            },
            "S": {"Type": "Succeed"},
            "C": {"Type": "Pass", "Result": "caught", "End": True},
        }
    )
    inv = flaky(5)
    result = go(defn, invoke=inv)
    assert result.output == "caught" and len(inv.calls) == 3


def test_task_failed_wildcard_does_not_match_timeout():
    """States.TaskFailed matches any error but States.Timeout; States.ALL skips terminal errors."""
    assert error_matches("States.TaskFailed", "Lambda.Unknown")
    assert not error_matches("States.TaskFailed", "States.Timeout")
    assert error_matches("States.ALL", "States.Timeout")
    assert not error_matches("States.ALL", "States.Runtime")
    assert not error_matches("States.ALL", "States.DataLimitExceeded")
    assert error_matches("States.DataLimitExceeded", "States.DataLimitExceeded")


def test_task_timeout(go, clock):
    """A task that never answers times out after TimeoutSeconds with States.Timeout."""
    from pilothouse.engine import PENDING

    result = go(machine({"T": task(TimeoutSeconds=30)}), invoke=lambda r, p, c: PENDING)
    assert (result.status, result.error) == ("FAILED", "States.Timeout")
    assert "TaskTimedOut" in events(result)
    assert clock.now() == T0 + 30


def test_heartbeat_timeout_and_timeout_seconds_path(go, clock):
    """HeartbeatSeconds without heartbeats → States.HeartbeatTimeout; TimeoutSecondsPath read from input."""
    from pilothouse.engine import PENDING

    defn = machine(
        {
            "T": task(
                TimeoutSecondsPath="$.t",
                HeartbeatSeconds=5,
                Catch=[{"ErrorEquals": ["States.HeartbeatTimeout"], "Next": "C"}],
                End=None,
            ),
            "C": {"Type": "Pass", "End": True},
        }
    )
    del defn["States"]["T"]["End"]
    defn["States"]["T"]["Next"] = "C"
    result = go(defn, {"t": 100}, invoke=lambda r, p, c: PENDING)
    assert result.output == {"Error": "States.HeartbeatTimeout", "Cause": "Task heartbeat timed out."}
    assert clock.now() == T0 + 5


def test_timeout_is_retriable(go, clock):
    """States.Timeout can be retried by name."""
    from pilothouse.engine import PENDING

    answers = [PENDING, "ok"]
    result = go(
        machine({"T": task([{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 2}], TimeoutSeconds=10)}),
        invoke=lambda r, p, c: answers.pop(0),
    )
    assert result.output == "ok" and clock.now() == T0 + 12


def test_data_limit_exceeded_from_a_task_is_a_task_failure(go):
    """A task result over 256 KiB → a TaskFailed with States.DataLimitExceeded, which a States.ALL
    catcher handles (as AWS's recorded executions show); a state *output* over the limit stays
    terminal: States.ALL does not catch it, an explicit States.DataLimitExceeded catcher does."""
    big = "x" * (256 * 1024 + 1)
    defn = machine(
        {"T": task(catch=[{"ErrorEquals": ["States.ALL"], "Next": "C"}], End=None), "C": {"Type": "Succeed"}}
    )
    del defn["States"]["T"]["End"]
    defn["States"]["T"]["Next"] = "C"
    result = go(defn, invoke=lambda r, p, c: big)
    assert result.status == "SUCCEEDED"
    assert result.output["Error"] == "States.DataLimitExceeded"
    assert "TaskFailed" in events(result) and "TaskSucceeded" not in events(result)
    # the result fits, but the state's output (input + result) does not: terminal
    half = "y" * (150 * 1024)
    defn["States"]["T"]["ResultPath"] = "$.r"
    result = go(defn, {"in": half}, invoke=lambda r, p, c: half)
    assert (result.status, result.error) == ("FAILED", "States.DataLimitExceeded")
    defn["States"]["T"]["Catch"] = [{"ErrorEquals": ["States.DataLimitExceeded"], "Next": "C"}]
    assert go(defn, {"in": half}, invoke=lambda r, p, c: half).status == "SUCCEEDED"


def test_oversized_execution_input_fails(go):
    """An input over 256 KiB fails the first state with States.DataLimitExceeded."""
    result = go(machine({"P": {"Type": "Pass", "End": True}}), {"x": "y" * (300 * 1024)})
    assert result.error == "States.DataLimitExceeded"


def test_fail_state_error_and_cause(go):
    """Fail: static Error/Cause, or ErrorPath/CausePath (paths and intrinsics)."""
    result = go(machine({"F": {"Type": "Fail", "Error": "MyError", "Cause": "because"}}))
    assert (result.status, result.error, result.cause) == ("FAILED", "MyError", "because")
    assert events(result)[-2:] == ["FailStateEntered", "ExecutionFailed"]
    dyn = go(
        machine({"F": {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "States.Format('code {}', $.c)"}}),
        {"e": "Dyn", "c": 7},
    )
    assert (dyn.error, dyn.cause) == ("Dyn", "code 7")


def test_invoker_exception_becomes_error_name(go):
    """A Python exception from the invoker fails the task with the exception's class name."""

    def invoke(resource, payload, ctx):
        raise ValueError("nope")

    result = go(machine({"T": task()}), invoke=invoke)
    assert (result.error, result.cause) == ("ValueError", "nope")


def test_execution_timeout(go, clock):
    """Top-level TimeoutSeconds → TIMED_OUT with ExecutionTimedOut."""
    result = go(machine({"W": {"Type": "Wait", "Seconds": 100, "End": True}}, TimeoutSeconds=10))
    assert (result.status, result.error) == ("TIMED_OUT", "States.Timeout")
    assert events(result)[-1] == "ExecutionTimedOut"
    assert clock.now() == T0 + 10
