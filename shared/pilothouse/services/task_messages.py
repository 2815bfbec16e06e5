"""Tasks that arrive as queue messages: run the named function, answer Step Functions with the token.

A state machine built with ``tasks_over_sqs`` sends ``{"function", "payload", "token", "callback"}``
instead of invoking Lambda: the shipped workflows' internal task functions (each checks its
deployment's capability). A user workflow's tasks (``user_tasks_over_sqs``) also name their
execution; they run only as the principal recorded when it started, like on the embedded engine.
Delivery is at least once: a repeated message runs the function again
(the deployment task functions are safe to repeat) and its second answer is refused by Step
Functions (the token was used) — which is ignored here.
"""

from __future__ import annotations

import json
from typing import Any

from pilothouse.errors import Conflict, NotFound
from pilothouse.ports import FunctionError, UnknownFunction, lambda_envelope
from pilothouse.services.context import ServiceContext
from pilothouse.services.workflow_access import ERROR_NOT_ALLOWED, HTTP_INVOKE, INTERNAL_TASKS, canonical


def handle(services: ServiceContext, body: str) -> str:
    msg: dict[str, Any] = json.loads(body)
    token = msg["token"]
    orchestrator = services.orchestrator
    try:
        try:
            result = _run(services, msg)
        except FunctionError as exc:
            cause = json.dumps({"errorMessage": exc.message, "errorType": exc.error_type})
            orchestrator.send_task_failure(token, exc.error_type, cause)
            return "refused" if exc.error_type == ERROR_NOT_ALLOWED else "failed"
        except UnknownFunction as exc:
            orchestrator.send_task_failure(token, "Lambda.ResourceNotFoundException", str(exc))
            return "unknown function"
        if msg.get("callback"):
            return "the function answers by itself"
        orchestrator.send_task_success(token, lambda_envelope(result) if msg.get("envelope") else result)
        return "answered"
    except (NotFound, Conflict):  # the token was answered already, or the execution has gone
        return "token no longer wanted"


def _run(services: ServiceContext, msg: dict[str, Any]) -> Any:
    """A shipped workflow's internal task through the invoker (the function checks the deployment's
    capability); anything else only for a user execution whose starter was recorded, as that
    principal (:class:`~pilothouse.services.execution_invoker.ExecutionInvoker`)."""
    from pilothouse.services.execution_invoker import ExecutionInvoker
    from pilothouse.services.workflow_operations import starter_of

    function = str(msg.get("function"))
    if function == HTTP_INVOKE:  # a user workflow's HTTP task (services.http_tasks), guarded here
        from pilothouse.services.http_tasks import invoke, sfn_error_name

        workflow, name = _execution(services, msg.get("execution"))
        if workflow is None:
            raise FunctionError(ERROR_NOT_ALLOWED, "an HTTP task message must name its execution")
        try:
            return invoke(services, {"workflow": workflow, "name": name}, msg.get("payload"))
        except FunctionError as exc:  # as the state's rewritten Retry and Catch spell it
            raise FunctionError(sfn_error_name(exc.error_type), exc.message) from None
    if canonical(function) in INTERNAL_TASKS:
        return services.invoker.invoke(function, msg.get("payload"))
    arn = msg.get("execution")
    workflow, name = _execution(services, arn)
    principal = starter_of(services, workflow, name) if workflow and name else None
    if principal is None:
        raise FunctionError(
            ERROR_NOT_ALLOWED,
            f"{function} runs from a task message only for a user "
            f"workflow's execution whose starter is known",
        )
    execution = {"workflow": workflow, "name": name, "arn": arn, "started_by": principal, "trusted": False}
    task = {"task_id": msg.get("state") or "task", "state_name": msg.get("state")}
    return ExecutionInvoker(services, execution, task).invoke(function, msg.get("payload"))


def _execution(services: ServiceContext, arn: Any) -> tuple[str | None, str | None]:
    """(workflow, execution name) from ``arn:aws:states:<region>:<account>:execution:<machine>:<name>``."""
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) < 8 or parts[5] != "execution":
        return None, None
    prefix = getattr(services.orchestrator, "prefix", "")
    machine = parts[6]
    return (machine[len(prefix) :] if machine.startswith(prefix) else None), parts[7]
