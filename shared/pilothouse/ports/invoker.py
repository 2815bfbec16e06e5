"""The invoker port (see :mod:`pilothouse.ports`).

>>> call = task_call("arn:aws:lambda:us-east-1:123456789012:function:deploy_task:live", {"x": 1})
>>> (call.function, call.payload, call.lambda_envelope)
('deploy_task', {'x': 1}, False)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class FunctionError(Exception):
    """The function raised: ``error_type`` names the exception (as Lambda's errorType does)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


class UnknownFunction(Exception):
    """No function of that name exists here."""


class Invoker(Protocol):
    """Runs the functions that workflow Task states name."""

    def invoke(self, function: str, payload: Any) -> Any:
        """Invoke ``function`` synchronously with ``payload``; return its result.

        Raises :class:`FunctionError` when the function fails and :class:`UnknownFunction`.
        """
        ...

    def timeout_of(self, function: str) -> float:
        """How long ``function`` may run, in seconds (:class:`UnknownFunction` if there is none)."""
        ...


@dataclass(frozen=True)
class TaskCall:
    """How a Task state's resource names a function, and the payload it passes."""

    function: str
    payload: Any
    #: the result is wrapped as the Step Functions Lambda integration returns it ({"Payload": ...})
    lambda_envelope: bool
    wait_for_token: bool


LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"


def _function_name(ref: str) -> str:
    """A function name from a name, a name:qualifier, or a Lambda ARN (with or without qualifier)."""
    if ref.startswith("arn:"):
        parts = ref.split(":")
        # arn:aws:lambda:region:account:function:name[:qualifier]
        if len(parts) >= 7 and parts[5] == "function":
            return parts[6]
        raise ValueError(f"not a Lambda function ARN: {ref}")
    return ref.split(":", 1)[0]


def task_call(resource: str, payload: Any) -> TaskCall:
    """How to run a Task state's resource; ValueError for resources the engine cannot run."""
    if resource in (LAMBDA_INVOKE, LAMBDA_INVOKE + ".waitForTaskToken"):
        if not isinstance(payload, dict) or "FunctionName" not in payload:
            raise ValueError("lambda:invoke needs Parameters.FunctionName")
        return TaskCall(
            function=_function_name(str(payload["FunctionName"])),
            payload=payload.get("Payload", {}),
            lambda_envelope=True,
            wait_for_token=resource.endswith(".waitForTaskToken"),
        )
    if resource.startswith("arn:aws:states:::"):
        raise ValueError(f"the service integration {resource} is not available on the embedded engine")
    return TaskCall(
        function=_function_name(resource), payload=payload, lambda_envelope=False, wait_for_token=False
    )


def lambda_envelope(result: Any) -> dict[str, Any]:
    """The shape Step Functions' optimized Lambda integration returns."""
    return {"ExecutedVersion": "$LATEST", "Payload": result, "StatusCode": 200}
