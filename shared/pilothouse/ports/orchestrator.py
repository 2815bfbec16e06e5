"""The orchestrator port (see :mod:`pilothouse.ports`)."""

from __future__ import annotations

from typing import Any, Protocol


class Orchestrator(Protocol):
    """Where workflows run: the embedded durable engine or AWS Step Functions.

    Workflows and executions are returned as their JSON views; listings as ``(items, cursor)``.
    """

    def create_workflow(
        self, name: str, definition: Any, *, description: str = "", actor: str, shipped: bool = False
    ) -> dict: ...

    def update_workflow(
        self, name: str, definition: Any, *, description: str | None = None, actor: str, shipped: bool = False
    ) -> dict: ...

    def get_workflow(self, name: str, version: int | None = None) -> dict: ...

    def list_workflows(
        self, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[dict], str | None]: ...

    def delete_workflow(self, name: str) -> None: ...

    def start(
        self,
        workflow: str,
        *,
        name: str | None,
        input: Any,
        actor: str,
        request_id: str | None = None,
        trusted: bool = False,
    ) -> dict:
        """Start an execution (``name`` None: the orchestrator picks one). ``trusted``: set by the
        deployment manager for a shipped workflow only (never from a request)."""
        ...

    def describe(self, workflow: str, name: str) -> dict: ...

    def list_executions(
        self, workflow: str, *, status: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[dict], str | None]: ...

    def history(
        self, workflow: str, name: str, *, limit: int = 100, cursor: str | None = None, reverse: bool = False
    ) -> tuple[list[dict], str | None]: ...

    def stop(
        self, workflow: str, name: str, *, error: str | None = None, cause: str | None = None
    ) -> dict: ...

    def redrive(self, workflow: str, name: str, *, actor: str | None = None) -> dict: ...

    def send_task_success(self, token: str, output: Any) -> dict: ...

    def send_task_failure(self, token: str, error: str | None, cause: str | None) -> dict: ...

    def send_task_heartbeat(self, token: str) -> dict: ...
