"""Durable workflow executions through the functions: API → queue messages → steps → tasks."""

from __future__ import annotations

import json

import pytest

from pilothouse.invokers.base import FunctionError
from pilothouse.settings import get_settings
from pilothouse.wiring import Services, register_services
from tests.support.controlplane import ADMIN_KEY, drain
from tests.support.executions import Functions, describe, history, start, wf


@pytest.fixture
def services(env, clock, request):
    """Services on a manual clock; a test that asks for ``fns`` gets them as the invoker."""
    invoker = request.getfixturevalue("fns") if "fns" in request.fixturenames else None
    s = Services(get_settings(), clock, invoker=invoker)
    register_services(s)
    return s


@pytest.fixture
def fns(monkeypatch):
    return Functions(monkeypatch)


@pytest.fixture
def run(services, pool, cloud):
    return lambda: drain(services, pool, cloud)


PASS_CHAIN = {
    "StartAt": "A",
    "States": {
        "A": {"Type": "Pass", "Result": {"greeting": "hi"}, "ResultPath": "$.a", "Next": "B"},
        "B": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Big"}],
            "Default": "Small",
        },
        "Big": {"Type": "Pass", "Result": "big", "ResultPath": "$.size", "End": True},
        "Small": {"Type": "Pass", "Result": "small", "ResultPath": "$.size", "End": True},
    },
}


def test_workflow_crud_and_validation(api):
    """Given a definition, it is created at version 1; an update publishes version 2 and version 1
    stays readable; an invalid definition is a 422 naming each offending JSON path."""
    assert wf(api, "flow", PASS_CHAIN)["version"] == 1
    changed = {**PASS_CHAIN, "Comment": "v2"}
    status, _, body = api.call("PUT", "/v1/workflows/flow", {"definition": changed})
    assert status == 200 and body["version"] == 2
    assert api.get("/v1/workflows/flow", query="version=1")[2]["definition"] == PASS_CHAIN
    assert api.get("/v1/workflows/flow")[2]["definition"]["Comment"] == "v2"
    assert [w["name"] for w in api.get("/v1/workflows")[2]["items"]] == ["flow"]
    bad = {"StartAt": "Nope", "States": {"A": {"Type": "Pass", "Next": "Missing", "Bogus": 1}}}
    status, _, problem = api.post("/v1/workflows", {"name": "bad", "definition": bad})
    assert status == 422
    paths = {e["path"] for e in problem["errors"]}
    assert {"$.StartAt", "$.States.A.Next", "$.States.A.Bogus"} <= paths, paths
    assert api.post("/v1/workflows", {"name": "flow", "definition": PASS_CHAIN})[0] == 409
    assert api.delete("/v1/workflows/flow")[0] == 204
    assert api.get("/v1/workflows/flow")[0] == 404


def test_definition_warnings_are_answered_apart_from_errors(api):
    """AWS accepts an unreachable state: the workflow is created (201) and the answer carries the
    warning apart; a definition without warnings answers as before (no "warnings" key)."""
    orphan = {**PASS_CHAIN, "States": {**PASS_CHAIN["States"], "Orphan": {"Type": "Succeed"}}}
    body = wf(api, "orphaned", orphan)
    assert body["version"] == 1
    assert [w["path"] for w in body["warnings"]] == ["$.States.Orphan"]
    status, _, body = api.call("PUT", "/v1/workflows/orphaned", {"definition": PASS_CHAIN})
    assert status == 200 and "warnings" not in body


def test_pass_and_choice_run_in_one_step(api, run, services):
    """Given a workflow of Pass and Choice states, when started, then the states due at once are
    applied by one persisted step and the execution succeeds with the right output and an
    AWS-shaped history."""
    wf(api, "flow", PASS_CHAIN)
    ex = start(api, "flow", {"n": 5}, name="first")
    assert ex["status"] == "RUNNING" and ex["execution_arn"].endswith(":flow:first")
    run()
    done = describe(api, "flow", "first")
    assert done["status"] == "SUCCEEDED"
    assert done["output"] == {"n": 5, "a": {"greeting": "hi"}, "size": "big"}
    assert done["step"] == 1  # the states due at once share one persisted step: A, B, Big
    events = history(api, "flow", "first")
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded"
    assert [e["type"] for e in events if e["type"].endswith("Entered")] == [
        "PassStateEntered",
        "ChoiceStateEntered",
        "PassStateEntered",
    ]
    assert (
        api.get("/v1/workflows/flow/executions", query="status=SUCCEEDED")[2]["items"][0]["name"] == "first"
    )


def test_start_is_idempotent_by_name(api, run):
    wf(api, "flow", {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}})
    first = start(api, "flow", {"x": 1}, name="once")
    again = start(api, "flow", {"x": 1}, name="once")
    assert first["execution_arn"] == again["execution_arn"]
    status, _, problem = api.post("/v1/workflows/flow/executions", {"name": "once", "input": {"x": 2}})
    assert status == 409 and "ExecutionAlreadyExists" in problem["detail"]
    assert len(api.get("/v1/workflows/flow/executions")[2]["items"]) == 1


def test_wait_states_resume_from_the_queue_without_sleeping(api, run, clock):
    """Given a 30 s Wait, the step is handed over as a delayed message: nothing happens until the
    clock passes it, then the execution goes on."""
    wf(
        api,
        "flow",
        {
            "StartAt": "W",
            "States": {"W": {"Type": "Wait", "Seconds": 30, "Next": "D"}, "D": {"Type": "Succeed"}},
        },
    )
    start(api, "flow", name="w")
    run()
    assert describe(api, "flow", "w")["status"] == "RUNNING"
    clock.advance(29)
    run()
    assert describe(api, "flow", "w")["status"] == "RUNNING"
    clock.advance(2)
    run()
    assert describe(api, "flow", "w")["status"] == "SUCCEEDED"


def test_long_waits_go_through_the_sweep(api, run, clock, pool, services):
    """Given a one-hour Wait (beyond a queue's longest delay), the sweep hands it over when due."""
    wf(api, "flow", {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}})
    start(api, "flow", name="long")
    run()
    assert services.queue.depth(services.settings.executions_queue)["delayed"] == 0
    clock.advance(3600 - 100)
    assert pool.invoke("WorkflowSweepFunction", {"resources": ["sweep"]})["timers"] == 1
    run()
    assert describe(api, "flow", "long")["status"] == "RUNNING"
    clock.advance(101)
    run()
    assert describe(api, "flow", "long")["status"] == "SUCCEEDED"


TASK_FLOW = {
    "StartAt": "Work",
    "States": {
        "Work": {
            "Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:000000000000:function:double",
            "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 2, "MaxAttempts": 2, "BackoffRate": 2}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
            "End": True,
        },
        "Caught": {"Type": "Pass", "End": True},
    },
}


def test_task_runs_a_function_with_retries_on_the_clock(api, run, fns, clock):
    """Given a task that fails twice with a retriable error, then it is retried after 2 s and 4 s
    (queue delays on the clock) and succeeds on the third call, called exactly three times."""
    attempts = {"n": 0}

    def double(payload):
        attempts["n"] += 1
        if attempts["n"] <= 2:
            raise FunctionError("Flaky", "try again")
        return {"value": payload["value"] * 2}

    fns.fns["double"] = double
    wf(api, "flow", TASK_FLOW)
    start(api, "flow", {"value": 21}, name="t")
    run()
    assert fns.calls["double"] == 1
    clock.advance(2)
    run()
    assert fns.calls["double"] == 2
    clock.advance(3)
    run()
    assert fns.calls["double"] == 2  # the second back-off is 4 s
    clock.advance(1)
    run()
    done = describe(api, "flow", "t")
    assert done["status"] == "SUCCEEDED" and done["output"] == {"value": 42}
    assert [e["type"] for e in history(api, "flow", "t")].count("TaskFailed") == 2


def test_unhandled_function_errors_go_to_catch(api, run, fns):
    fns.fns["double"] = lambda p: 1 / 0
    wf(api, "flow", TASK_FLOW)
    start(api, "flow", {"value": 1}, name="c")
    run()
    done = describe(api, "flow", "c")
    assert done["status"] == "SUCCEEDED"
    assert done["output"]["error"]["Error"] == "ZeroDivisionError"
    assert json.loads(done["output"]["error"]["Cause"])["errorType"] == "ZeroDivisionError"


def test_a_missing_function_is_refused(api, run, fns, services):
    """Given a Task naming no public operation, registering it is a 422 naming the state's Resource;
    written to the store behind the API's back, it fails when it runs, with a clear error."""
    from pilothouse.services import workflows

    flow = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "nothing-here", "End": True}}}
    status, _, problem = api.post("/v1/workflows", {"name": "flow", "definition": flow})
    assert status == 422 and problem["errors"][0]["path"] == "$.States.T.Resource"
    workflows.create(services, "flow", flow, actor="test", shipped=True)  # no resource check
    start(api, "flow", name="m")
    run()
    done = describe(api, "flow", "m")
    assert (done["status"], done["error"]) == ("FAILED", "Pilothouse.TaskNotAllowed")
    assert "nothing-here is not a public operation" in done["cause"]


def test_duplicated_messages_run_no_task_twice(api, run, fns, services):
    """Given every message delivered twice, then each task still runs once."""
    fns.fns["double"] = lambda p: {"value": p["value"] * 2}
    wf(api, "flow", TASK_FLOW)
    start(api, "flow", {"value": 2}, name="dup")
    queue = services.queue
    original_send = queue.send

    def twice(q, body, **kw):
        original_send(q, body, **kw)
        return original_send(q, body, **kw)

    queue.send = twice
    try:
        run()
    finally:
        queue.send = original_send
    assert describe(api, "flow", "dup")["status"] == "SUCCEEDED"
    assert fns.calls["double"] == 1


CALLBACK_FLOW = {
    "StartAt": "Approve",
    "States": {
        "Approve": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {
                "FunctionName": "notify",
                "Payload": {"token.$": "$$.Task.Token", "what.$": "$.what"},
            },
            "HeartbeatSeconds": 600,
            "Catch": [{"ErrorEquals": ["Rejected"], "ResultPath": "$.why", "Next": "No"}],
            "Next": "Yes",
        },
        "Yes": {"Type": "Pass", "Result": "approved", "End": True},
        "No": {"Type": "Fail", "Error": "Rejected", "CausePath": "$.why.Cause"},
    },
}


def test_callback_tasks_wait_for_their_token(api, run, fns, clock):
    """Given a .waitForTaskToken task, the function gets the token and the execution waits until
    the token is sent back; heartbeats keep it alive, failure goes to Catch."""
    fns.fns["notify"] = lambda p: None
    wf(api, "flow", CALLBACK_FLOW)
    start(api, "flow", {"what": "deploy"}, name="ok")
    run()
    waiting = describe(api, "flow", "ok")
    assert waiting["status"] == "RUNNING" and waiting["waiting_tasks"][0]["callback"]
    token = fns.payloads["notify"][0]["token"]
    clock.advance(500)
    assert api.post("/v1/task-tokens/heartbeat", {"token": token})[0] == 200
    clock.advance(500)
    run()
    assert describe(api, "flow", "ok")["status"] == "RUNNING"  # the heartbeat moved the deadline
    status, _, body = api.post("/v1/task-tokens/success", {"token": token, "output": {"by": "ana"}})
    assert status == 200
    run()
    assert describe(api, "flow", "ok")["output"] == "approved"
    assert api.post("/v1/task-tokens/success", {"token": token, "output": {}})[0] == 404

    start(api, "flow", {"what": "deploy"}, name="no")
    run()
    token = fns.payloads["notify"][1]["token"]
    api.post("/v1/task-tokens/failure", {"token": token, "error": "Rejected", "cause": "not today"})
    run()
    done = describe(api, "flow", "no")
    assert (done["status"], done["error"], done["cause"]) == ("FAILED", "Rejected", "not today")
    assert api.post("/v1/task-tokens/success", {"token": "garbage", "output": {}})[0] == 404


def test_heartbeat_timeout(api, run, fns, clock):
    fns.fns["notify"] = lambda p: None
    wf(api, "flow", CALLBACK_FLOW)
    start(api, "flow", {"what": "x"}, name="hb")
    run()
    clock.advance(601)
    run()
    done = describe(api, "flow", "hb")
    assert (done["status"], done["error"]) == ("FAILED", "States.HeartbeatTimeout")


def test_stop_aborts_a_waiting_execution(api, run, fns):
    fns.fns["notify"] = lambda p: None
    wf(api, "flow", CALLBACK_FLOW)
    start(api, "flow", {"what": "x"}, name="s")
    run()
    status, _, body = api.post("/v1/workflows/flow/executions/s/stop", {"error": "Manual", "cause": "ops"})
    assert status == 200 and body["status"] == "ABORTED" and body["error"] == "Manual"
    assert history(api, "flow", "s")[-1]["type"] == "ExecutionAborted"


MAP_FLOW = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 2,
            "ItemProcessor": {
                "StartAt": "Sq",
                "States": {"Sq": {"Type": "Task", "Resource": "square", "End": True}},
            },
            "End": True,
        }
    },
}


def test_redrive_reruns_only_failed_iterations(api, run, fns):
    """Given a Map whose item 3 fails, when the function is fixed and the execution redriven, then
    the iterations that had succeeded (1 and 2) do not run again."""
    broken = {"yes": True}

    def square(n):
        if n == 3 and broken["yes"]:
            raise FunctionError("Broken", "three")
        return n * n

    fns.fns["square"] = square
    wf(api, "flow", MAP_FLOW)
    start(api, "flow", {"items": [1, 2, 3, 4]}, name="r")
    run()
    assert describe(api, "flow", "r")["status"] == "FAILED"
    calls_before = fns.calls["square"]
    broken["yes"] = False
    status, _, body = api.post("/v1/workflows/flow/executions/r/redrive")
    assert status == 200 and body["redrive_count"] == 1
    run()
    done = describe(api, "flow", "r")
    assert done["status"] == "SUCCEEDED" and done["output"] == [1, 4, 9, 16]
    rerun = fns.payloads["square"][calls_before:]
    assert 3 in rerun and not {1, 2} & set(rerun)  # 4 may not have started before the failure
    assert api.post("/v1/workflows/flow/executions/r/redrive")[0] == 409


def test_a_lost_task_worker_fails_the_task_and_retry_decides(api, run, fns, services, clock, pool):
    """Given a worker that took a task's lease and died, when the lease lapses, the sweep fails the
    task with States.TaskFailed; Retry runs it again, so it runs no more than its retries allow."""
    from pilothouse.services import execution_steps

    flow = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "double",
                "End": True,
                "Retry": [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 1}],
            }
        },
    }
    fns.fns["double"] = lambda p: "done"
    wf(api, "flow", flow)
    start(api, "flow", name="lost")
    drain(services, pool, _cloud(pool), [services.settings.executions_queue])
    [msg] = services.queue.receive(services.settings.tasks_queue)
    task_id = json.loads(msg.body)["task_id"]
    assert execution_steps.lease(services, "flow", "lost", task_id) is not None  # ...and the worker dies
    services.queue.delete(services.settings.tasks_queue, msg.receipt_handle)
    clock.advance(5 + execution_steps.LEASE_MARGIN_SECONDS + 1)
    assert execution_steps.sweep(services)["lapsed"] == 1
    run()
    clock.advance(2)
    run()
    done = describe(api, "flow", "lost")
    assert done["status"] == "SUCCEEDED" and fns.calls["double"] == 1
    assert [e["type"] for e in history(api, "flow", "lost")].count("TaskFailed") == 1


def _cloud(pool):
    from pilothouse.embedded.template import read_cloud
    from tests.support.controlplane import ROOT

    return read_cloud(ROOT, get_settings())


def test_messages_lost_before_sending_are_resent_by_the_sweep(api, services, fns, pool, run):
    """Given a step whose messages never reached the queue (the worker died after its write), the
    sweep re-sends them from the record's outbox."""
    fns.fns["double"] = lambda p: {"value": 0}
    wf(api, "flow", TASK_FLOW)
    start(api, "flow", {"value": 1}, name="o")
    drain(services, pool, _cloud(pool), [services.settings.executions_queue])
    services.queue.purge(services.settings.tasks_queue)
    from pilothouse.services import execution_steps

    assert execution_steps.sweep(services, stale_after=0)["resent"] == 1
    run()
    assert describe(api, "flow", "o")["status"] == "SUCCEEDED"


def test_viewer_cannot_start_executions(api):
    wf(api, "flow", PASS_CHAIN)
    viewer = api.post("/v1/api-keys", {"name": "v", "role": "viewer"})[2]["key"]
    assert api.post("/v1/workflows/flow/executions", {"input": {}}, key=viewer)[0] == 403
    assert api.get("/v1/workflows/flow/executions", key=viewer)[0] == 200
    assert ADMIN_KEY
