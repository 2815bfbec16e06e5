"""The embedded durable engine behind the :class:`~pilothouse.ports.Orchestrator` port.

It lives with the services because the services do its work (the workflow registry and the
execution engine run over the store); :mod:`pilothouse.wiring` imports it only when
``settings.orchestrator`` is ``embedded``.
"""

from __future__ import annotations

from typing import Any

from pilothouse.services import executions, workflows
from pilothouse.services.context import ServiceContext


class EmbeddedOrchestrator:
    """Implements :class:`pilothouse.ports.Orchestrator` with the services of ``services``."""

    def __init__(self, services: ServiceContext) -> None:
        self.services = services

    def create_workflow(
        self, name: str, definition: Any, *, description: str = "", actor: str, shipped: bool = False
    ) -> dict:
        return workflows.create(
            self.services, name, definition, description=description, actor=actor, shipped=shipped
        )

    def update_workflow(
        self, name: str, definition: Any, *, description: str | None = None, actor: str, shipped: bool = False
    ) -> dict:
        return workflows.update(
            self.services, name, definition, description=description, actor=actor, shipped=shipped
        )

    def get_workflow(self, name: str, version: int | None = None) -> dict:
        return workflows.get(self.services, name, version)

    def list_workflows(self, *, limit: int = 50, cursor: str | None = None) -> tuple[list[dict], str | None]:
        return workflows.list_workflows(self.services, limit=limit, cursor=cursor)

    def delete_workflow(self, name: str) -> None:
        workflows.delete(self.services, name)

    def start(
        self,
        workflow: str,
        *,
        name: str | None,
        input: Any,
        actor: str,
        request_id: str | None = None,
        trusted: bool = False,
    ) -> dict[str, Any]:
        """``trusted``: set by the deployment manager for a shipped workflow only (never from a request)."""
        return executions.start(
            self.services,
            workflow,
            name=name,
            input=input,
            actor=actor,
            request_id=request_id,
            trusted=trusted,
        )

    def describe(self, workflow: str, name: str) -> dict:
        return executions.describe(self.services, workflow, name)

    def list_executions(
        self, workflow: str, *, status: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[dict], str | None]:
        return executions.list_executions(self.services, workflow, status=status, limit=limit, cursor=cursor)

    def history(
        self, workflow: str, name: str, *, limit: int = 100, cursor: str | None = None, reverse: bool = False
    ) -> tuple[list[dict], str | None]:
        return executions.history(self.services, workflow, name, limit=limit, cursor=cursor, reverse=reverse)

    def stop(self, workflow: str, name: str, *, error: str | None = None, cause: str | None = None) -> dict:
        return executions.stop(self.services, workflow, name, error=error, cause=cause)

    def redrive(self, workflow: str, name: str, *, actor: str | None = None) -> dict:
        return executions.redrive(self.services, workflow, name, actor=actor)

    def send_task_success(self, token: str, output: Any) -> dict:
        return executions.send_task_success(self.services, token, output)

    def send_task_failure(self, token: str, error: str | None, cause: str | None) -> dict:
        return executions.send_task_failure(self.services, token, error, cause)

    def send_task_heartbeat(self, token: str) -> dict:
        return executions.send_task_heartbeat(self.services, token)
