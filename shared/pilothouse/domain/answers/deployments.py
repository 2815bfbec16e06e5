"""Deployments, freezes, and the workflows and executions that carry them out."""

from __future__ import annotations

from typing import Any

from pilothouse.domain.answers.core import Answer


class DeploymentStep(Answer):
    index: int
    kind: str
    status: str


class DeploymentAnswer(Answer):
    """A deployment as the API shows it (its task tokens and capability digests stay inside)."""

    id: str
    component: str
    environment: str
    provider: str
    command: str
    from_version: str | None
    to_version: str | None
    config: dict[str, Any] | None
    strategy: dict[str, Any]
    workflow: str
    execution: str
    status: str
    steps: list[DeploymentStep]
    current_step: int | None
    placement: dict[str, Any] | None
    replicas: int
    weights: dict[str, Any]
    analysis: list[dict[str, Any]]
    approvals: list[dict[str, Any]]
    pending_token: dict[str, Any] | None
    waiting_for: str | None
    paused: bool
    abort_requested: Any = None
    promote_full: bool
    outcome: str | None
    error: Any = None
    initiated_by: str | None
    request_id: str | None
    created_at: str
    updated_at: str
    finished_at: str | None


class DeploymentPage(Answer):
    items: list[DeploymentAnswer]
    next_cursor: str | None


class DeploymentEvent(Answer):
    id: str
    deployment: str
    at: str
    type: str


class DeploymentEventPage(Answer):
    items: list[DeploymentEvent]
    next_cursor: str | None


class Freeze(Answer):
    scope: str
    target: str
    reason: str
    by: str
    at: str


class FreezeList(Answer):
    items: list[Freeze]


class WaitingTask(Answer):
    task_id: str
    state: str | None
    resource: str | None
    callback: bool


class ExecutionAnswer(Answer):
    """An execution of a workflow (capability and task tokens redacted)."""

    execution_arn: str
    name: str
    workflow: str
    workflow_version: int | None  # None on Step Functions
    status: str
    input: Any
    output: Any = None
    error: str | None
    cause: str | None
    start_date: str
    stop_date: str | None
    redrive_count: int
    sm_version: int | None = None  # the published version a start named (directly or by alias)
    sm_alias: str | None = None  # the alias a start named
    trusted: bool
    step: int | None  # None on Step Functions
    positions: list[Any]
    waiting_tasks: list[WaitingTask]


class ExecutionSummary(Answer):
    """An execution in a listing (``describe`` shows the rest)."""

    arn: str
    name: str
    workflow: str
    workflow_version: int | None  # None on Step Functions
    status: str
    start_date: str | None
    stop_date: str | None
    redrive_count: int
    sm_version: int | None = None
    sm_alias: str | None = None


class ExecutionPage(Answer):
    items: list[ExecutionSummary]
    next_cursor: str | None


class HistoryEvent(Answer):
    """One history event of an execution (Step Functions' shape: its details under ``*EventDetails``)."""

    id: int
    type: str
    timestamp: str | None


class HistoryPage(Answer):
    """A page of an execution's history (under ``events``, as Step Functions' GetExecutionHistory)."""

    events: list[HistoryEvent]
    next_cursor: str | None


class WorkflowAnswer(Answer):
    """A workflow (a version of it when asked for one): its ASL definition, and the warnings a
    definition accepted on create or update has."""

    name: str
    version: int | None
    definition: dict[str, Any]
    description: str | None
    created_at: str | None
    updated_at: str | None = None
    warnings: list[Any] | None = None


class WorkflowSummary(Answer):
    """A workflow in a listing (without its definition)."""

    name: str
    created_at: str | None


class WorkflowPage(Answer):
    items: list[WorkflowSummary]
    next_cursor: str | None
