"""The models of what the API answers, as the OpenAPI document (GET /v1/openapi.json) shows them.

Only the OpenAPI function (and the tests) import this module: endpoints name their answer model by
name (``@operation(response="ComponentAnswer")``), so no other function pays for building these
models at cold start.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel

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


class ReplicaHealthAnswer(Answer):
    """One replica as the last health sweep saw it."""

    id: str
    pid: int | None = None
    port: int | None = None
    revision: str | None = None
    healthy: bool
    last_probe: str | None = None
    last_error: str | None = None


class HealthAnswer(Answer):
    """A component's health (``Healthy | Degraded | Unhealthy | Unknown``) and its replicas."""

    status: str
    since: str | None = None
    checked_at: str | None = None
    replicas: list[ReplicaHealthAnswer] = []


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
    health: HealthAnswer


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


class Health(Answer):
    status: str
    version: str
    request_id: str


class OpenApiDocument(Answer):
    """This document."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


class MetricsAccepted(Answer):
    """How many datapoints a batch wrote."""

    accepted: int


class MetricPointAnswer(Answer):
    timestamp: str
    value: float | None


class MetricSeriesAnswer(Answer):
    component: str
    name: str
    key: str
    dimensions: dict[str, str]
    unit: str


class ComponentMetrics(Answer):
    """A component's series (no ``metric`` asked), or one statistic of a metric per period."""

    component: str
    metrics: list[MetricSeriesAnswer] | None = None
    metric: str | None = None
    stat: str | None = None
    period: int | None = None
    start: str | None = None
    end: str | None = None
    points: list[MetricPointAnswer] | None = None


class PrometheusExposition(RootModel[str]):
    """The Prometheus text exposition format, version 0.0.4."""


class AutoscalingAnswer(Answer):
    """A component's autoscaling policy (None: it has none), bounds, last scalings and decisions."""

    component: str
    policy: dict[str, Any] | None
    min: int
    max: int
    replicas: int
    updated_at: str | None = None
    updated_by: str | None = None
    last_scale_out: float | None = None
    last_scale_in: float | None = None
    decisions: list[dict[str, Any]]


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


# -- backups (issue 12) ---------------------------------------------------------------------------


class BackupAnswer(Answer):
    """A complete backup as its manifest describes it (no key material, no MAC)."""

    id: str
    created_at: str | None = None
    completed_at: str | None = None
    trigger: str | None = None
    store: str | None = None
    consistency: str | None = None
    at_rest: str | None = None
    items: int | None = None
    counts: dict[str, int] | None = None
    bytes: int | None = None
    raw_bytes: int | None = None
    chunks: int | None = None
    compression_ratio: float | None = None
    key_id: str | None = Field(default=None, description="the master key that wraps its data key")
    verified_at: str | None = None
    verify_outcome: str | None = None
    drilled_at: str | None = None
    drill_outcome: str | None = None


class BackupPage(Answer):
    items: list[BackupAnswer]
    total: int
    incomplete: list[str] = Field(description="backups without a manifest (never offered for restore)")


class BackupDeleted(Answer):
    id: str
    deleted_objects: int


class BackupRunAnswer(Answer):
    """A backup run: a create, verify, restore or drill carried out asynchronously."""

    id: str
    kind: str
    status: str = Field(description="queued, running, succeeded, failed, or interrupted (lease lapsed)")
    backup_id: str | None = None
    force: bool = False
    requested_by: str
    requested_at: str
    started_at: str | None = None
    finished_at: str | None = None
    progress: dict[str, Any] = Field(description="phase, items, bytes, chunks (and their totals)")
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class BackupEvent(Answer):
    id: str
    type: str
    at: str
    outcome: str
    backup_id: str | None = None
    detail: dict[str, Any]


class BackupEventPage(Answer):
    items: list[BackupEvent]


# -- configuration (issue 13) ------------------------------------------------------------------------


class ResolvedConfig(Answer):
    """A component's resolved config in an environment (secret references stay references)."""

    component: str
    environment: str
    version: int = Field(description="0 before the first version: what the spec's config resolves to")
    config: dict[str, Any]
    sources: dict[str, int] = Field(description="the version of each shared layer it was resolved from")
    includes: list[str]
    author: str | None
    message: str | None
    created_at: str | None


class ConfigVersion(Answer):
    """One immutable version of a config scope."""

    scope: str
    version: int
    kind: str = Field(description="set, import, rollback, propagated, reverted (a rolled-back deployment)")
    author: str | None = None
    message: str | None = None
    created_at: str | None = None
    values: dict[str, Any]
    includes: list[str]
    resolved: dict[str, Any] | None = None
    sources: dict[str, int] | None = None
    restored_from: int | None = None
    deployment_id: str | None = None


class ConfigVersionPage(Answer):
    items: list[ConfigVersion]
    next_cursor: str | None


class ConfigChangeAnswer(Answer):
    """A component's config change: its version and how it reaches the component."""

    changed: bool
    version: ConfigVersion
    deployment: dict[str, Any] | None = Field(
        description="{status: started, operation_id} for a Running component; kept_for_next_deploy"
    )


class ConfigDiffAnswer(Answer):
    from_: int = Field(alias="from")
    to: int
    changes: list[dict[str, Any]] = Field(description="path, op (added, removed, changed), from, to")
    overrides: list[dict[str, Any]]
    includes: dict[str, list[str]]


class SharedConfigChangeAnswer(Answer):
    """A shared set's or an environment's change, and what it did to each component it reaches."""

    changed: bool
    version: ConfigVersion
    components: list[dict[str, Any]]


class SecretVersion(Answer):
    version: int
    created_at: str
    created_by: str
    superseded_at: str | None = None
    keep_until: float | None = Field(default=None, description="epoch seconds: kept for rollback until then")


class SecretAnswer(Answer):
    """A secret's metadata: never its value."""

    name: str
    description: str
    backend: str
    current_version: int
    versions: list[SecretVersion]
    created_at: str
    created_by: str
    updated_at: str
    deployments: list[dict[str, Any]] | None = Field(default=None, description="what a rotation started")


class SecretPage(Answer):
    items: list[SecretAnswer]
    next_cursor: str | None


# -- notifications and alerts (issue 11 §3, §4) ---------------------------------------------------


class NotificationChannel(Answer):
    """A channel: its URL shown as scheme and host only, its secret never."""

    id: str
    name: str
    kind: str
    url_display: str
    signed: bool
    subscriptions: list[dict[str, Any]]
    description: str
    created_at: str
    created_by: str


class NewNotificationChannel(NotificationChannel):
    """A channel as created: a generic webhook's signing secret, shown this once."""

    secret: str | None = None


class NotificationChannelList(Answer):
    items: list[NotificationChannel]


class NotificationDelivery(Answer):
    """One event's delivery to a channel and its attempts."""

    id: str
    channel: str
    event: dict[str, Any]
    status: str
    attempts: int
    created_at: str
    updated_at: str
    last_status_code: int | None = None
    last_latency_ms: float | None = None
    last_error: str | None = None
    next_attempt_at: str | None = None
    log: list[dict[str, Any]] = []


class NotificationDeliveryPage(Answer):
    items: list[NotificationDelivery]
    next_cursor: str | None


class AlertRule(Answer):
    name: str
    rule: dict[str, Any]
    created_at: str
    created_by: str


class AlertRuleList(Answer):
    items: list[AlertRule]


class Alert(Answer):
    """A rule's alert: its state since when, the values that decided it, ack and silence."""

    rule: str
    kind: str
    state: str
    since: str
    severity: str
    component: str | None = None
    last_values: dict[str, Any] | None = None
    acknowledged: dict[str, Any] | None = None
    silenced: dict[str, Any] | None = None
    history: list[dict[str, Any]] | None = None


class AlertList(Answer):
    items: list[Alert]


class SystemMemberAnswer(Answer):
    name: str
    state: str
    version: str | None
    health: str
    url: str | None


class SystemRolloutAnswer(Answer):
    """One rollout of a system: each member's action, versions and step."""

    id: str
    system: str
    action: str
    status: str
    waves: list[list[str]]
    max_parallel: int
    members: dict[str, dict[str, Any]]
    started_at: str
    started_by: str
    finished_at: str | None = None
    execution: str | None = None
    error: str | None = None


class SystemAnswer(Answer):
    """A system: its spec, health (worst of its members'), version set and latest rollout."""

    name: str
    spec: dict[str, Any]
    environment: str | None
    health: str
    version_set: dict[str, str | None]
    members: list[SystemMemberAnswer]
    rollout: SystemRolloutAnswer | dict[str, Any] | None = None
    created_at: str
    updated_at: str


class SystemSummary(Answer):
    name: str
    spec: dict[str, Any]
    rollout: dict[str, Any] | None = None


class SystemPage(Answer):
    items: list[SystemSummary]
    next_cursor: str | None


class SystemRolloutPage(Answer):
    items: list[SystemRolloutAnswer]
    next_cursor: str | None


class WebhookReceipt(Answer):
    """What a webhook sender gets: its delivery id and whether it was new."""

    delivery: str
    status: str
    event: str | None = None


class WebhookSourceAnswer(Answer):
    """A webhook source (never its secret after creation)."""

    name: str
    kind: str
    description: str
    rules: list[dict[str, Any]]
    created_at: str
    updated_at: str


class NewWebhookSourceAnswer(WebhookSourceAnswer):
    """A source as created or rotated: the secret, shown this once."""

    secret: str


class WebhookSourcePage(Answer):
    items: list[WebhookSourceAnswer]
    next_cursor: str | None


class WebhookDeliveryAnswer(Answer):
    id: str
    source: str
    received_at: str
    status: str
    event: dict[str, Any]
    attempts: int
    outcomes: list[dict[str, Any]] = []


class WebhookDeliveryPage(Answer):
    items: list[WebhookDeliveryAnswer]
    next_cursor: str | None


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
