"""HTTP tasks on Step Functions end to end (moto server, executions enabled): the workflow's Retry
on States.Http.StatusCode.503 and Catch on States.Http.StatusCode.404 work there as on the
embedded engine, through the task-messages queue and a component served on 127.0.0.1 (issue 14 §2).

moto's interpreter refuses ``States.Http.*`` names in ``ErrorEquals`` and fails an execution whose
task is failed with a ``States.``-prefixed error; the definition sent to Step Functions therefore
spells them ``Pilothouse.Http.*`` (:data:`pilothouse.services.http_tasks.SFN_ERROR_PREFIX`)."""

from __future__ import annotations

import pytest

from tests.support.http_tasks import Scripted, running_component
from tests.support.moto_server import MotoServer
from tests.support.sfn_moto import answer_task_messages, use_step_functions_on

pytestmark = pytest.mark.slow


def flow(component: str) -> dict:
    return {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::http:invoke",
                "Parameters": {
                    "ApiEndpoint": f"component://{component}/parse",
                    "Method": "POST",
                    "RequestBody.$": "$",
                },
                "Retry": [
                    {"ErrorEquals": ["States.Http.StatusCode.503"], "IntervalSeconds": 1, "MaxAttempts": 2}
                ],
                "Catch": [
                    {"ErrorEquals": ["States.Http.StatusCode.404"], "ResultPath": "$.error", "Next": "Gone"}
                ],
                "End": True,
            },
            "Gone": {"Type": "Pass", "Result": "not found", "ResultPath": "$.handled", "End": True},
        },
    }


@pytest.fixture(scope="module")
def moto():
    with MotoServer() as server:
        yield server


@pytest.fixture
def sfn(moto, env, monkeypatch, loopback_only):
    return use_step_functions_on(moto, monkeypatch)


def test_retry_on_503_and_catch_on_404_on_step_functions(sfn, api, services):
    """Given a component answering 503 then 200, Then the execution retries and succeeds with the
    AWS-shaped response; given one answering 404, Then the Catch branch runs and records the error."""
    from pilothouse.messaging.base import QueueSpec

    services.queue.declare(QueueSpec(services.settings.task_messages_queue))
    for component in ("parser", "gen"):
        status, _, body = api.post(
            "/v1/workflows", {"name": f"calls-{component}", "definition": flow(component)}
        )
        assert status == 201, body
    busy = Scripted([(503, {"busy": True}), (200, {"sections": 2})])
    try:
        running_component(services, "parser", busy.url)
        assert (
            api.post("/v1/workflows/calls-parser/executions", {"name": "retried", "input": {"t": 1}})[0]
            == 201
        )
        done = answer_task_messages(services, api, "calls-parser", "retried")
    finally:
        busy.close()
    assert done["status"] == "SUCCEEDED", done
    assert done["output"]["StatusCode"] == 200 and done["output"]["ResponseBody"] == {"sections": 2}
    assert len(busy.seen) >= 2  # the 503, then the retry (task messages arrive at least once)

    gone = Scripted([(404, {"message": "no such route"})])
    try:
        running_component(services, "gen", gone.url)
        assert api.post("/v1/workflows/calls-gen/executions", {"name": "caught", "input": {"t": 2}})[0] == 201
        done = answer_task_messages(services, api, "calls-gen", "caught")
    finally:
        gone.close()
    assert done["status"] == "SUCCEEDED", done
    assert done["output"]["handled"] == "not found"
    assert done["output"]["error"]["Error"] == "Pilothouse.Http.StatusCode.404"
    # moto hands the Catch no Cause of a SendTaskFailure (AWS does); the embedded engine's test
    # (test_http_tasks.py) checks the cause
    assert done["output"]["error"].get("Cause") is None or "no such route" in done["output"]["error"]["Cause"]
