"""Pilothouse's pure Amazon States Language interpreter.

Durable API (no sleeping, no threads, no I/O)::

    state = start(definition, input, execution_name="run-1", now=t0)
    state, effects = advance(state, now)        # InvokeTask / CancelTask / ResumeAt
    state = complete_task(state, task_id, output={...}, now=t1)   # or error=..., cause=...
    state, effects = advance(state, t1)

A Distributed Map asks for its S3 calls as internal ``InvokeTask`` effects (answer them with
:func:`pilothouse.engine.s3io.perform`) and for its child executions with ``StartChild`` /
``StopChild`` effects; report each child's end with :func:`complete_child` (and ask
:func:`pending_children` again after a crash).

Convenience: :func:`run` drives an execution to completion on a
:class:`VirtualClock`; :func:`mock_invoker` answers tasks from AWS Step
Functions Local mock configuration files; :func:`validate` / :func:`load`
check definitions (:func:`diagnose` adds the warnings AWS would give).
"""

from .api import advance, complete_child, complete_task, heartbeat, pending_children, redrive, start, stop
from .clock import VirtualClock, WallClock
from .errors import DefinitionError, EngineUsageError, StatesError, ValidationError
from .mocks import mock_invoker
from .model import (
    ABORTED,
    FAILED,
    RUNNING,
    SUCCEEDED,
    TIMED_OUT,
    CancelTask,
    ExecutionState,
    InvokeTask,
    ResumeAt,
    StartChild,
    StopChild,
)
from .runner import PENDING, InvokeContext, RunResult, TaskFailure, run
from .validation import Diagnosis, diagnose, load, validate

parse = load

__all__ = [
    "ABORTED",
    "FAILED",
    "RUNNING",
    "SUCCEEDED",
    "TIMED_OUT",
    "PENDING",
    "CancelTask",
    "DefinitionError",
    "Diagnosis",
    "EngineUsageError",
    "ExecutionState",
    "InvokeContext",
    "InvokeTask",
    "ResumeAt",
    "StartChild",
    "StopChild",
    "RunResult",
    "StatesError",
    "TaskFailure",
    "ValidationError",
    "VirtualClock",
    "WallClock",
    "advance",
    "complete_child",
    "complete_task",
    "diagnose",
    "heartbeat",
    "load",
    "mock_invoker",
    "parse",
    "pending_children",
    "redrive",
    "run",
    "start",
    "stop",
    "validate",
]
