"""The function-invoker port now lives in :mod:`pilothouse.ports`; these names stay importable here."""

from pilothouse.ports import (
    LAMBDA_INVOKE,
    FunctionError,
    Invoker,
    TaskCall,
    UnknownFunction,
    lambda_envelope,
    task_call,
)

__all__ = [
    "LAMBDA_INVOKE",
    "FunctionError",
    "Invoker",
    "TaskCall",
    "UnknownFunction",
    "lambda_envelope",
    "task_call",
]
