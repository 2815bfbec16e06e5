"""The invoker as one execution sees it: what its Task may call, and as whom (defense in depth).

Registration already refused definitions naming anything else; this checks again when the task
runs, on the function the Task resolved to (so ``FunctionName.$``, ARNs and nested Map/Parallel
states cannot slip through, nor can a definition written to the store behind the API's back):

* a trusted execution (a shipped workflow the deployment manager started) may call the internal
  task functions, through the project's invoker;
* any other execution may call the public operations only, run in-process as the principal that
  started it (:mod:`pilothouse.services.workflow_operations`), and the functions the deployment
  allows in the setting ``workflow_task_functions``, through the invoker.

A refusal raises :class:`~pilothouse.ports.FunctionError` ``Pilothouse.TaskNotAllowed``.
"""

from __future__ import annotations

from typing import Any

from pilothouse.ports import FunctionError
from pilothouse.services.context import ServiceContext
from pilothouse.services.workflow_access import ERROR_NOT_ALLOWED, TaskNotAllowed, check_call


class ExecutionInvoker:
    def __init__(self, services: ServiceContext, execution: dict[str, Any], task: dict[str, Any]) -> None:
        self.services = services
        self.execution = execution
        self.task = task

    def invoke(self, function: str, payload: Any) -> Any:
        from pilothouse.services import workflow_operations as ops

        try:
            route, name = check_call(
                function,
                trusted=bool(self.execution.get("trusted")),
                extra=self.services.settings.workflow_task_functions,
            )
        except TaskNotAllowed as exc:
            raise FunctionError(ERROR_NOT_ALLOWED, str(exc)) from None
        if route in ("internal", "project"):
            return self.services.invoker.invoke(function, payload)
        d = self.execution
        caller = ops.Caller(
            workflow=d["workflow"],
            execution=d["name"],
            execution_arn=d["arn"],
            principal_id=d.get("acting_as") or d.get("started_by") or "anonymous",
            task_id=self.task["task_id"],
            state_name=self.task.get("state_name"),
        )
        try:
            return ops.run(self.services, caller, name, payload)
        except ops.OperationFailed as exc:
            raise FunctionError(exc.error, exc.message) from None
        except FunctionError:
            raise
        except Exception as exc:  # as a Lambda function's error: its class names it (HealthCheckFailed...)
            raise FunctionError(type(exc).__name__, str(exc)) from exc
