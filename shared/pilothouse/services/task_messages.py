"""Tasks that arrive as queue messages: run the named function, answer Step Functions with the token.

A state machine built with ``tasks_over_sqs`` sends ``{"function", "payload", "token", "callback"}``
instead of invoking Lambda. Delivery is at least once: a repeated message runs the function again
(the deployment task functions are safe to repeat) and its second answer is refused by Step
Functions (the token was used) — which is ignored here.
"""

from __future__ import annotations

import json
from typing import Any

from pilothouse.errors import Conflict, NotFound
from pilothouse.invokers.base import FunctionError, UnknownFunction
from pilothouse.services.workflow_access import INTERNAL_TASKS, canonical
from pilothouse.wiring import Services


def handle(services: Services, body: str) -> str:
    msg: dict[str, Any] = json.loads(body)
    token = msg["token"]
    orchestrator = services.orchestrator
    try:
        if canonical(str(msg.get("function"))) not in INTERNAL_TASKS:
            # only the shipped workflows send tasks this way, and they call only internal task
            # functions (each of which checks its deployment's capability token)
            orchestrator.send_task_failure(token, "Pilothouse.TaskNotAllowed",
                                           f"{msg.get('function')} is not run from task messages")
            return "refused"
        try:
            result = services.invoker.invoke(msg["function"], msg.get("payload"))
        except FunctionError as exc:
            cause = json.dumps({"errorMessage": exc.message, "errorType": exc.error_type})
            orchestrator.send_task_failure(token, exc.error_type, cause)
            return "failed"
        except UnknownFunction as exc:
            orchestrator.send_task_failure(token, "Lambda.ResourceNotFoundException", str(exc))
            return "unknown function"
        if msg.get("callback"):
            return "the function answers by itself"
        orchestrator.send_task_success(token, result)
        return "answered"
    except (NotFound, Conflict):  # the token was answered already, or the execution has gone
        return "token no longer wanted"
