"""Who hears that an execution ended: a small registry of listeners the orchestrators announce to.

The embedded executor announces every execution that reaches a terminal status
(:mod:`pilothouse.services.execution_steps`); on AWS an EventBridge rule on Step Functions'
"Execution Status Change" events calls ``functions/execution_status_changed``, which announces the
same thing through :func:`announce_from_orchestrator`. The executor knows no listener by name: the
deployment manager is one, registered here in :func:`default_listeners` (the one place that says
who listens), and the services (:class:`pilothouse.wiring.Services`) hold the registry its orchestrator uses.

A listener must be idempotent: an end can be announced twice (a worker killed after its write, a
redelivered EventBridge event). A listener that raises is logged and the others still run.

>>> from pilothouse.services.execution_listeners import ExecutionEnded, ExecutionListeners
>>> heard = []
>>> registry = ExecutionListeners()
>>> registry.register("probe", lambda services, ended: heard.append(ended.status))
>>> registry.announce(None, ExecutionEnded(workflow="w", name="e1", arn="arn:x", status="FAILED"))
[]
>>> heard
['FAILED']
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from pilothouse.services.context import ServiceContext

log = logging.getLogger(__name__)

EndStatus = Literal["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]
END_STATUSES: frozenset[str] = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


class ExecutionEnded(BaseModel):
    """An execution reached a terminal status (what every listener receives)."""

    model_config = ConfigDict(frozen=True)

    workflow: str
    name: str
    arn: str
    status: EndStatus
    error: str | None = None
    cause: str | None = None
    #: the execution's input; on the embedded engine it holds a shipped workflow's capability token
    #: (Step Functions' view redacts it): a listener never logs or returns it
    input: Any = None
    #: started trusted by the deployment manager (a shipped workflow acting on a deployment)
    trusted: bool = False

    @classmethod
    def of(cls, execution: dict[str, Any]) -> ExecutionEnded:
        """From an execution record (embedded engine) or an orchestrator's execution view."""
        return cls(
            workflow=execution["workflow"],
            name=execution["name"],
            arn=execution.get("arn") or execution.get("execution_arn") or "",
            status=execution["status"],
            error=execution.get("error"),
            cause=execution.get("cause"),
            input=execution.get("input"),
            trusted=bool(execution.get("trusted")),
        )


Listener = Callable[["ServiceContext", ExecutionEnded], None]


class ExecutionListeners:
    """Listeners in registration order; :meth:`announce` runs each, whatever the others do."""

    def __init__(self) -> None:
        self._listeners: list[tuple[str, Listener]] = []

    def register(self, name: str, listener: Listener) -> None:
        """Add ``listener`` under ``name`` (registering a name again replaces it in its place)."""
        for i, (known, _) in enumerate(self._listeners):
            if known == name:
                self._listeners[i] = (name, listener)
                return
        self._listeners.append((name, listener))

    def unregister(self, name: str) -> None:
        self._listeners = [(n, f) for n, f in self._listeners if n != name]

    def names(self) -> list[str]:
        return [n for n, _ in self._listeners]

    def announce(self, services: ServiceContext, ended: ExecutionEnded) -> list[str]:
        """Tell every listener, in order; return the names of those that failed (each is logged,
        none stops the others nor reaches the announcer)."""
        failed: list[str] = []
        for name, listener in list(self._listeners):
            try:
                listener(services, ended)
            except Exception:
                failed.append(name)
                log.exception(
                    "execution listener %s failed on %s/%s (%s)",
                    name,
                    ended.workflow,
                    ended.name,
                    ended.status,
                )
        return failed


def default_listeners() -> ExecutionListeners:
    """The listeners of a control plane: the deployment manager settles the deployment whose
    workflow ended without settling it."""
    from pilothouse.services.deployments import on_execution_ended

    registry = ExecutionListeners()
    registry.register("deployments", on_execution_ended)
    from pilothouse.services.system_rollouts import on_execution_ended as system_rollout_ended

    registry.register("system-rollouts", system_rollout_ended)
    return registry


def announce_from_orchestrator(services: ServiceContext, workflow: str, name: str, *, arn: str) -> str:
    """Announce the end of ``workflow``/``name`` as the orchestrator itself describes it (never as a
    notification claims it): an unknown execution, one whose ARN is not ``arn``, or one still
    running is ignored. Returns what happened, for the log. An orchestrator that cannot answer
    (throttled, unreachable) raises: the caller's retries try again."""
    from pilothouse.errors import NotFound, ValidationFailed

    try:
        execution = services.orchestrator.describe(workflow, name)
    except NotFound:
        return "ignored: unknown execution"
    except ValidationFailed:
        return "ignored: not a valid execution name"
    if execution.get("execution_arn") != arn:
        return "ignored: not this orchestrator's execution"
    if execution.get("status") not in END_STATUSES:
        return f"ignored: the execution is {execution.get('status')}"
    ended = ExecutionEnded.of(execution)
    failed = services.listeners.announce(services, ended)
    return f"announced {ended.status}" + (f"; failed listeners: {', '.join(failed)}" if failed else "")
