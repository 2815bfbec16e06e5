"""The models of what the API answers, as the OpenAPI document (GET /v1/openapi.json) shows them.

Only the OpenAPI function (and the tests) import this module: endpoints name their answer model by
name (``@operation(response="ComponentAnswer")``), so no other function pays for building these
models at cold start.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# -- what the API answers -------------------------------------------------------------------------
# These document the answers in the OpenAPI document (GET /v1/openapi.json). The services build the
# answers as plain JSON values; these models are not run on each request (a test checks that real
# answers validate against them). Unnamed keys are allowed, as answers may grow.


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class OperationAnswer(Answer):
    """The long command a component is carrying out (the plan under ``params._strategy``/``_steps``)."""

    id: str
    command: str
    params: dict[str, Any]
    requested_at: str | None = None
    requested_by: str | None = None
    request_id: str | None = None
    attempt: int = 0
    lease_until: float | None = None


class ComponentAnswer(Answer):
    """A component as the API shows it."""

    name: str
    state: str
    allowed_commands: list[str]
    environment: str
    provider: str
    version: str | None
    replicas: int
    url: str | None
    last_error: dict[str, Any] | None
    operation: OperationAnswer | None
    restoring: bool
    spec: dict[str, Any]
    placement: dict[str, Any] | None
    created_at: str
    updated_at: str
    record_version: int


class ComponentPage(Answer):
    items: list[ComponentAnswer]
    next_cursor: str | None


class ComponentEvent(Answer):
    """One transition of a component (``from``/``to`` states, who, and the command's details)."""

    id: str
    component: str
    at: str
    type: str
    actor: str | None = None
    request_id: str | None = None


class ComponentEventPage(Answer):
    items: list[ComponentEvent]
    next_cursor: str | None


class ApiKeyAnswer(Answer):
    """An API key's record: never its secret nor its hash, only the prefix it starts with."""

    id: str
    name: str
    role: str
    prefix: str
    created_at: str
    created_by: str
    expires_at: str | None
    revoked_at: str | None
    permissions: list[str]
    environments: list[str]


class NewApiKeyAnswer(ApiKeyAnswer):
    """A new key's record and its secret, shown this once. A replay of the call with the same
    Idempotency-Key answers without it (the secret is not kept) and says so."""

    key: str | None = Field(default=None, description="the secret (absent from a replay)")
    secret_shown_once: bool | None = Field(default=None, description="true in a replay, which has no key")


class ApiKeyPage(Answer):
    items: list[ApiKeyAnswer]
    next_cursor: str | None


class AuditRecord(Answer):
    """One mutating call and its outcome (anonymous refusals are counted per operation and minute)."""

    at: str
    principal: str
    operation: str
    target: str | None
    request_id: str
    status: int
    outcome: str
    detail: str | None
    count: int | None = None
    last_at: str | None = None


class AuditPage(Answer):
    items: list[AuditRecord]
    next_cursor: str | None


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


class Health(Answer):
    status: str
    version: str
    request_id: str


class OpenApiDocument(Answer):
    """This document."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


# -- what the API answers when it refuses ----------------------------------------------------------


class ProblemField(Answer):
    """What is wrong with one field of the request."""

    field: str
    in_: str | None = Field(default=None, alias="in", description="body, query, path or header")
    message: str
    type: str | None = None


class Problem(Answer):
    """An RFC 9457 problem: every 4xx and 5xx answer, as ``application/problem+json``. Problems may
    carry more members (``required_permission``, ``allowed_commands``, ...)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[ProblemField] | None = None


class AuditProblem(Answer):
    """One break in the audit hash chain."""

    shard: str
    seq: int | None
    problem: str = Field(description="changed, deleted, reordered, inserted, head-missing or head-mismatch")
    detail: str


class AuditVerification(Answer):
    """What ``GET /v1/audit/verify`` found: ``ok`` when no record was deleted, changed or reordered."""

    ok: bool
    since: str | None
    days: int
    records: int
    problems: list[AuditProblem]


class AuditExportPage(Answer):
    """Audit records oldest first, in chain order (the CLI writes them as JSON Lines)."""

    items: list[AuditRecord]
    next_cursor: str | None


class PolicyAnswer(Answer):
    """A deployment policy as stored: its definition, version and who wrote it."""

    name: str
    description: str
    match: dict[str, Any]
    rule: str
    message: str
    type: str
    mode: str
    version: int
    created_at: str
    created_by: str
    updated_at: str
    updated_by: str


class PolicyList(Answer):
    items: list[dict[str, Any]]


class PolicyTestAnswer(Answer):
    """What the policies tried would decide on each request (``denied_by``: the policies refusing it)."""

    evaluated: int
    denied: int
    results: list[dict[str, Any]]
