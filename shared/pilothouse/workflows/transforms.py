"""Rewriting a definition's Lambda tasks to go through a queue (``sqs:sendMessage.waitForTaskToken``).

Where Step Functions cannot invoke Lambda functions (a local stand-in such as moto, or a deployment
that keeps functions out of the state machine's reach), every Task that names a function becomes a
message ``{"function", "payload", "token", "callback"}`` on Pilothouse's task-messages queue; the
``run_task_message`` function runs the function and answers with the token (a ``callback`` task's
function answers by itself, later). The workflow's logic — retries, catches, timeouts — is unchanged.

    >>> d = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:lambda:r:1:function:f",
    ...                                      "End": True}}}
    >>> tasks_over_sqs(d, "https://q")["States"]["T"]["Resource"]
    'arn:aws:states:::sqs:sendMessage.waitForTaskToken'
"""

from __future__ import annotations

import copy
from typing import Any

SQS_CALLBACK = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"


def _function_of(resource: str, parameters: Any) -> tuple[str, Any, bool] | None:
    """(function name, payload template, callback?) for a Lambda task; None for anything else."""
    if resource in (LAMBDA_INVOKE, LAMBDA_INVOKE + ".waitForTaskToken") and isinstance(parameters, dict):
        name = str(parameters.get("FunctionName", "")).split(":function:")[-1].split(":")[0]
        return name, parameters.get("Payload", {}), resource.endswith(".waitForTaskToken")
    if resource.startswith("arn:aws:lambda:") and ":function:" in resource:
        return resource.split(":function:")[1].split(":")[0], parameters, False
    return None


def _rewrite_state(state: dict[str, Any], queue_url: str) -> None:
    if state.get("Type") == "Task":
        found = _function_of(state.get("Resource", ""), state.get("Parameters"))
        if found:
            name, payload, callback = found
            body: dict[str, Any] = {"function": name, "callback": callback, "token.$": "$$.Task.Token"}
            if payload is None:
                body["payload.$"] = "$"
            else:
                body["payload"] = payload
            state["Resource"] = SQS_CALLBACK
            state["Parameters"] = {"QueueUrl": queue_url, "MessageBody": body}
    for branch in state.get("Branches", []):
        _rewrite_machine(branch, queue_url)
    for key in ("ItemProcessor", "Iterator"):
        if key in state:
            _rewrite_machine(state[key], queue_url)


def _rewrite_machine(machine: dict[str, Any], queue_url: str) -> None:
    for state in machine.get("States", {}).values():
        _rewrite_state(state, queue_url)


def tasks_over_sqs(definition: dict[str, Any], queue_url: str) -> dict[str, Any]:
    """A copy of ``definition`` whose Lambda tasks go through ``queue_url`` (JSONPath mode)."""
    out = copy.deepcopy(definition)
    _rewrite_machine(out, queue_url)
    return out
