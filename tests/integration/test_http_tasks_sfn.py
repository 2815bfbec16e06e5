"""HTTP tasks on AWS Step Functions: a user definition's HTTP task travels as a task message (as its
function tasks do); ``run_task_message`` resolves ``component://``, sends the request through the
guard and answers the token: the response on success, ``Pilothouse.Http.StatusCode.<code>`` on a
non-2xx status (a caller may not report a ``States.`` name; the state's Retry and Catch are
rewritten to match)."""

from __future__ import annotations

import json

from pilothouse.services.http_tasks import HTTP_INVOKE, http_tasks_over_sqs
from pilothouse.settings import get_settings
from pilothouse.wiring import Services
from tests.support.http_tasks import Scripted, running_component

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/pilothouse-task-messages"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:calls:x"


class Tokens:
    """An orchestrator that only records how task tokens were answered."""

    def __init__(self) -> None:
        self.answers: list[tuple] = []

    def send_task_success(self, token, output):
        self.answers.append(("success", token, output))

    def send_task_failure(self, token, error, cause):
        self.answers.append(("failure", token, error, cause))


def test_http_tasks_become_task_messages_with_their_parameters():
    """Given a JSONPath HTTP task, the definition for Step Functions sends its Parameters (paths
    kept for Step Functions to fill in) with the token and the execution to the task-messages queue."""
    flow = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": HTTP_INVOKE,
                "Parameters": {
                    "ApiEndpoint": "component://api/x",
                    "Method": "POST",
                    "RequestBody.$": "$.doc",
                },
                "End": True,
            }
        },
    }
    state = http_tasks_over_sqs(flow, QUEUE)["States"]["Call"]
    assert state["Resource"] == "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
    body = state["Parameters"]["MessageBody"]
    assert body["function"] == HTTP_INVOKE and body["payload"]["RequestBody.$"] == "$.doc"
    assert body["token.$"] == "$$.Task.Token" and body["execution.$"] == "$$.Execution.Id"


def test_task_messages_answer_http_tasks_with_the_response_or_the_status_error(env):
    """Given a component answering 200 then 404, the first message's token gets the AWS-shaped
    response, the second's fails with Pilothouse.Http.StatusCode.404; a metadata address is refused."""
    from pilothouse.services import task_messages

    tokens = Tokens()
    services = Services(get_settings(), orchestrator=tokens)  # type: ignore[arg-type]
    server = Scripted([(200, {"ok": 1}), (404, {"message": "gone"})])
    try:
        running_component(services, "api", server.url)
        for token, endpoint in (
            ("t1", "component://api/x"),
            ("t2", "component://api/y"),
            ("t3", "http://169.254.169.254/"),
        ):
            message = {
                "function": HTTP_INVOKE,
                "payload": {"ApiEndpoint": endpoint, "Method": "POST", "RequestBody": {"a": 1}},
                "token": token,
                "callback": False,
                "envelope": False,
                "execution": EXECUTION,
                "state": "Call",
            }
            task_messages.handle(services, json.dumps(message))
    finally:
        server.close()
    ok, gone, meta = tokens.answers
    assert ok[:2] == ("success", "t1") and ok[2]["StatusCode"] == 200 and ok[2]["ResponseBody"] == {"ok": 1}
    assert gone[:3] == ("failure", "t2", "Pilothouse.Http.StatusCode.404")
    assert meta[:3] == ("failure", "t3", "Pilothouse.HttpTaskRefused") and "metadata" in meta[3]


def test_retry_and_catch_of_an_http_task_are_rewritten_to_the_task_messages_spelling():
    """Given Retry on States.Http.StatusCode.503 and Catch on States.Http.StatusCode.404 and
    States.ALL, the definition for Step Functions retries and catches the Pilothouse.Http.* names
    the task messages report, leaves every other name as written, and the user's own definition
    is not changed."""
    flow = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": HTTP_INVOKE,
                "Parameters": {"ApiEndpoint": "component://api/x", "Method": "GET"},
                "Retry": [{"ErrorEquals": ["States.Http.StatusCode.503", "States.Http.Socket"]}],
                "Catch": [
                    {"ErrorEquals": ["States.Http.StatusCode.404"], "Next": "Gone"},
                    {"ErrorEquals": ["States.ALL"], "Next": "Gone"},
                ],
                "End": True,
            },
            "Gone": {"Type": "Pass", "End": True},
        },
    }
    state = http_tasks_over_sqs(flow, QUEUE)["States"]["Call"]
    assert state["Retry"][0]["ErrorEquals"] == ["Pilothouse.Http.StatusCode.503", "Pilothouse.Http.Socket"]
    assert [c["ErrorEquals"] for c in state["Catch"]] == [["Pilothouse.Http.StatusCode.404"], ["States.ALL"]]
    assert flow["States"]["Call"]["Retry"][0]["ErrorEquals"][0] == "States.Http.StatusCode.503"
