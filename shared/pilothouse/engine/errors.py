"""Error names and exception types of the ASL interpreter.

Error names follow the Amazon States Language / AWS Step Functions
vocabulary.  Runtime failures inside the interpreter are raised as
:class:`StatesError` and then routed through Retry/Catch handling.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL = "States.ALL"
TASK_FAILED = "States.TaskFailed"
RUNTIME = "States.Runtime"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
TIMEOUT = "States.Timeout"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"
EXCEED_TOLERATED_FAILURE_THRESHOLD = "States.ExceedToleratedFailureThreshold"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
BRANCH_FAILED = "States.BranchFailed"
ITEM_READER_FAILED = "States.ItemReaderFailed"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"
PERMISSIONS = "States.Permissions"

#: Errors that the ``States.ALL`` wildcard does not match (AWS: terminal errors).
NOT_MATCHED_BY_ALL = frozenset({RUNTIME, DATA_LIMIT_EXCEEDED})
#: Errors that can never be retried or caught; they always fail the execution.
UNCATCHABLE = frozenset({RUNTIME})


class StatesError(Exception):
    """A runtime error raised while interpreting a state.

    ``error`` is the error name (e.g. ``States.Runtime``) and ``cause``
    a human readable explanation, exactly as they appear in history events.
    """

    def __init__(
        self, error: str, cause: str = "", *, by_task: bool = False, location: str | None = None
    ) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause
        #: the field an evaluation failed in (``Output/result``), for the EvaluationFailed event
        self.location = location
        #: reported by a task (a TaskFailed/TaskTimedOut event) rather than raised by the
        #: interpreter about a state's data: then even States.DataLimitExceeded is a task failure
        #: that ``States.ALL`` matches (see :func:`error_matches`)
        self.by_task = by_task


def runtime(cause: str) -> StatesError:
    """Build a ``States.Runtime`` error."""
    return StatesError(RUNTIME, cause)


def intrinsic_failure(cause: str) -> StatesError:
    """Build a ``States.IntrinsicFailure`` error."""
    return StatesError(INTRINSIC_FAILURE, cause)


@dataclass(frozen=True)
class ValidationError:
    """One problem in a state machine definition, located by JSON path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class DefinitionError(ValueError):
    """Raised by :func:`load` when a definition has validation errors."""

    def __init__(self, errors: list[ValidationError]) -> None:
        self.errors = list(errors)
        lines = "\n".join(str(e) for e in self.errors)
        super().__init__(f"invalid state machine definition ({len(self.errors)} error(s)):\n{lines}")


class EngineUsageError(RuntimeError):
    """Raised when the engine API is driven incorrectly (e.g. unknown task id)."""


def error_matches(pattern: str, error: str, *, by_task: bool = False) -> bool:
    """Return True when one ``ErrorEquals`` entry matches ``error``.

    ``States.ALL`` matches every error except the terminal ones
    (``States.Runtime``, ``States.DataLimitExceeded``); ``States.TaskFailed``
    matches the same set minus ``States.Timeout``.

    An error a *task* reported (``by_task``) is a task failure: ``States.ALL``
    matches it even when it is ``States.DataLimitExceeded``. The developer guide
    says States.ALL cannot catch States.DataLimitExceeded, but AWS's recorded
    executions of a Lambda task whose result is over the payload limit show a
    ``TaskFailed`` event with that error, handled by a ``States.ALL`` catcher;
    only the interpreter's own limit checks (a state's input or output) stay
    terminal.
    """
    terminal = UNCATCHABLE if by_task else NOT_MATCHED_BY_ALL
    if pattern == ALL:
        return error not in terminal
    if pattern == TASK_FAILED:
        # AWS: in Retry/Catch, States.TaskFailed acts as a wildcard matching
        # any known error except States.Timeout (and the terminal errors).
        return error not in terminal and error != TIMEOUT
    return pattern == error
