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
