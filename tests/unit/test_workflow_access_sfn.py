"""User workflows for Step Functions: tasks that call Pilothouse functions travel as task messages;
JSONata tasks, which that rewrite cannot express yet, are a 422 (not a 500)."""

from __future__ import annotations

import pytest

from pilothouse.errors import ValidationFailed
from pilothouse.services.workflow_access import user_tasks_over_sqs

JSONATA_TASK = {
    "Type": "Task",
    "Resource": "arn:aws:states:::lambda:invoke",
    "Arguments": {"FunctionName": "get_component", "Payload": {"name": "web"}},
    "End": True,
}


@pytest.mark.parametrize(
    "definition",
    [
        {"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": JSONATA_TASK}},
        {"StartAt": "A", "States": {"A": {**JSONATA_TASK, "QueryLanguage": "JSONata"}}},
    ],
)
def test_jsonata_function_tasks_are_refused_with_a_422(definition):
    """Given a JSONata task calling a public operation, when it is prepared for Step Functions,
    then ValidationFailed names the definition (it used to crash with a TypeError)."""
    with pytest.raises(ValidationFailed) as caught:
        user_tasks_over_sqs(definition, "http://127.0.0.1:1/queue/pilothouse-task-messages")
    assert caught.value.errors[0]["field"] == "definition"


def test_jsonpath_function_tasks_become_task_messages():
    """Given a JSONPath task naming a public operation, then it becomes an SQS callback task."""
    definition = {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "get_component", "End": True}}}
    state = user_tasks_over_sqs(definition, "http://127.0.0.1:1/q")["States"]["A"]
    assert state["Resource"] == "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
    assert state["Parameters"]["MessageBody"]["function"] == "get_component"


@pytest.mark.parametrize(
    "url",
    [
        "https://sqs.us-east-1.amazonaws.com/123456789012/pilothouse-task-messages",
        "https://sqs.us-east-1.amazonaws.com/123456789012/pilothouse-task-messages/",
        "https://sqs.us-east-1.amazonaws.com/123456789012/pilothouse-task-messages?x=1",
        "https://sqs.us-east-1.amazonaws.com/123456789012/pilothouse-task-messages#x",
        "https://sqs.us-east-1.amazonaws.com/123456789012/pilothouse-task%2Dmessages",
        "https://sqs.us-east-1.amazonaws.com/123456789012/PILOTHOUSE-TASK-MESSAGES",
        "https://sqs.us-east-1.amazonaws.com/123456789012/pilothouse-task-messages\t",
    ],
)
def test_the_control_planes_queues_cannot_be_reached_by_any_spelling(url):
    """Given a user workflow sending an SQS message, when its QueueUrl names the task-messages queue
    in any spelling (slash, query, fragment, escapes, case, whitespace), then it is refused."""
    from pilothouse.services.workflow_access import resource_errors

    state = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage",
        "Parameters": {"QueueUrl": url, "MessageBody": {"a": 1}},
        "End": True,
    }
    errors = resource_errors(
        {"StartAt": "A", "States": {"A": state}}, own_queues=["pilothouse-task-messages"]
    )
    assert errors and errors[0]["path"].endswith("Parameters.QueueUrl"), errors


def test_a_users_own_queue_is_fine():
    from pilothouse.services.workflow_access import resource_errors

    state = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage",
        "Parameters": {
            "QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/mine",
            "MessageBody": {"a": 1},
        },
        "End": True,
    }
    assert (
        resource_errors({"StartAt": "A", "States": {"A": state}}, own_queues=["pilothouse-task-messages"])
        == []
    )
