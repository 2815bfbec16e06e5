"""The typed models of what is stored; they load on the first write
(see :func:`pilothouse.domain.records.stored`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pilothouse.domain.pending import PendingCommand

# -- what is stored -------------------------------------------------------------------------------
# The repositories validate every record they write with these models (:func:`stored`), so a write
# with an unknown or mistyped field fails at once instead of landing in the table. Reads are not
# validated (they stay dict lookups). The stored JSON is byte-for-byte what the writers built: the
# keys keep the writer's order and only the keys given are written (absent stays absent).


class Stored(BaseModel):
    """A stored record: no unknown key, no coercion (``"3"`` is not a replica count)."""

    model_config = ConfigDict(extra="forbid", strict=True)


Number = int | float


class ReplicaHealth(Stored):
    """One replica as the health sweep saw it (pid and port are null where the provider has none,
    a Lambda's revision for instance)."""

    id: str
    pid: int | None = None
    port: int | None = None
    revision: str | None = None
    healthy: bool
    last_probe: str | None = None
    last_error: str | None = None


class ComponentHealth(Stored):
    """A component's health: ``Healthy`` (every replica), ``Degraded`` (some), ``Unhealthy``
    (none), ``Unknown`` (not probed, or the provider cannot say); ``since`` the status began."""

    status: str = Field(pattern=r"^(Healthy|Degraded|Unhealthy|Unknown)$")
    since: str
    checked_at: str
    replicas: list[ReplicaHealth] = []


class ReplicaProbeState(ReplicaHealth):
    """A replica's probe counters between sweeps (consecutive successes and failures)."""

    successes: int = 0
    failures: int = 0


class HealthProbeRecord(Stored):
    """The health sweep's latest probe of one component (partition ``HEALTH``): rewritten on every
    sweep without touching the component record, whose ``health`` changes only when the status
    or a replica's health does (so a sweep never makes a user's command lose a version race)."""

    component: str
    status: str = Field(pattern=r"^(Healthy|Degraded|Unhealthy|Unknown)$")
    since: str
    checked_at: str
    checked_epoch: Number
    replicas: list[ReplicaProbeState] = []


class ComponentRecord(Stored):
    """A component's record (partition ``COMPONENT``)."""

    name: str
    spec: dict[str, Any]
    state: str
    version: str | None = None
    replicas: int = 0
    url: str | None = None
    placement: dict[str, Any] | None = None
    last_error: dict[str, Any] | None = None
    operation: PendingCommand | None = None
    created_at: str
    updated_at: str
    created_by: str | None = None
    # the version an update replaced, and what a retry goes back to (the last Running and healthy)
    previous_version: str | None = None
    last_good: dict[str, Any] | None = None
    # what ran before the last succeeded update or rollback ({"version", "config"}): what a
    # rollback of the component (or of that deployment) goes back to, config included (issue 13)
    previous_revision: dict[str, Any] | None = None
    # set while a control-plane restart brings the component's instances back
    restoring: dict[str, Any] | None = None
    # what the health sweep last found (written when it changes; see ComponentHealth)
    health: ComponentHealth | None = None


class ComponentEventRecord(Stored):
    """One transition of a component (partition ``EVENTS#<name>``); the detail keys depend on the
    event's type."""

    id: str
    component: str
    at: str
    type: str
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    actor: str | None = None
    request_id: str | None = None
    operation_id: str | None = None
    deployment_id: str | None = None
    params: dict[str, Any] | None = None
    strategy: str | None = None
    attempt: int | None = None
    version: str | None = None
    replicas: int | None = None
    url: str | None = None
    reason: str | None = None
    logs: list[str] | None = None
    # the replica a replica.replaced / replica.reaped event is about (and its replacement)
    replica: ReplicaHealth | None = None
    replacement: ReplicaHealth | None = None
    # what a health event found (component.health, component.unhealthy)
    healthy_replicas: int | None = None
    total_replicas: int | None = None


class DeploymentRecord(Stored):
    """A deployment's record (partition ``DEPLOYMENT``). ``_detail`` is the detail of a failed
    health step, stored under that key by every release so far (kept as it is)."""

    id: str
    component: str
    environment: str
    provider: str
    command: str
    from_version: str | None = None
    to_version: str | None = None
    config: dict[str, Any] | None = None
    strategy: dict[str, Any] = {}
    workflow: str
    execution: str
    status: str
    steps: list[dict[str, Any]] = []
    current_step: int | None = None
    placement: dict[str, Any] | None = None
    replicas: int = 0
    weights: dict[str, Number] = {}
    analysis: list[dict[str, Any]] = []
    approvals: list[dict[str, Any]] = []
    pending_token: dict[str, Any] | None = None
    paused: bool = False
    abort_requested: dict[str, Any] | None = None
    promote_full: bool = False
    outcome: str | None = None
    error: str | None = None
    logs: list[str] | None = None
    detail: dict[str, Any] | None = Field(default=None, alias="_detail")
    initiated_by: str | None = None
    request_id: str | None = None
    created_at: str
    updated_at: str
    finished_at: str | None = None
    notify_token: str | None = None
    separate_approver: bool = False
    capabilities: list[str] = []
    #: the config version a config change rolled out (issue 13)
    config_version: int | None = None
    #: the config version a rollback brings back (a new version copies it once the rollback succeeded)
    restores_config_version: int | None = None
    #: the newest config version when that rollback began (a change written during it stands)
    config_head: int | None = None


class DeploymentEventRecord(Stored):
    """One change of a deployment's record (partition ``DEPLOYEVENTS#<id>``); the detail keys depend
    on the event's type."""

    id: str
    deployment: str
    at: str
    type: str
    status: str | None = None
    actor: str | None = None
    step: int | None = None
    detail: dict[str, Any] | None = None
    comment: str | None = None
    full: bool | None = None
    reason: str | None = None
    execution: str | None = None


class ApiKeyRecord(Stored):
    """An API key's record (partition ``APIKEY``): the SHA-256 of the key, never the key."""

    id: str
    name: str
    role: str
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    created_at: str
    created_by: str
    expires_at: str | None = None
    expires_epoch: Number | None = None
    revoked_at: str | None = None
    prefix: str
    permissions: list[str] = []
    environments: list[str] = []


class AuditEntry(Stored):
    """One audit record (partition ``AUDIT``); a refusal-counting record adds ``count`` and
    ``last_at``."""

    at: str
    principal: str
    operation: str
    target: str | None = None
    request_id: str | None = None
    status: int
    outcome: str
    detail: str | None = None
    count: int | None = None
    last_at: str | None = None
    #: who an OIDC principal is: id, kind, name, issuer, subject, email
    actor: dict[str, str] | None = None
    #: its place in the day's hash chain (domain/audit_chain.py): day, sequence number, the hash of
    #: the record before it, its own hash; a day's first record anchors the day before
    shard: str | None = None
    seq: int | None = None
    prev: str | None = None
    hash: str | None = None
    anchor: dict[str, Any] | None = None
    #: the facts admission judged the request on, and each matching policy's decision
    request: dict[str, Any] | None = None
    policies: list[dict[str, Any]] | None = None


class ExecutionRecord(Stored):
    """An execution of the embedded engine as it starts (partition ``EXEC#<workflow>``). Each step
    then rewrites it in :mod:`pilothouse.services.execution_steps` without a model: ``state`` is the
    engine's own typed :class:`~pilothouse.engine.ExecutionState`, and the step write is the
    engine's hot path (validating the whole record there would cost every state transition)."""

    arn: str
    name: str
    workflow: str
    workflow_version: int
    status: str
    step: int
    state: dict[str, Any]
    input: Any = None
    output: Any = None
    error: str | None = None
    cause: str | None = None
    start_date: str
    stop_date: str | None = None
    redrive_count: int = 0
    updated_epoch: Number
    resume_at: Number | None = None
    outbox: list[Any] = []
    task_leases: dict[str, Any] = {}
    started_by: str | None = None
    request_id: str | None = None
    trusted: bool = False
    acting_as: Any = None
    #: a test case of the mock configuration answering the execution's Task states
    mock_case: str | None = None
    #: a Distributed Map's child execution: its parent {workflow, name, map_run, map_run_arn, index}
    parent: dict[str, Any] | None = None
    #: the published state machine version a start named (directly or through an alias)
    sm_version: int | None = None
    #: the alias a start named (its version is ``sm_version``)
    sm_alias: str | None = None
    #: characters of text its history events carried so far (a large execution's record is
    #: measured, and stored in pieces when it must be: ``repositories.execution_bodies``)
    text_seen: int = 0


class ConfigHeadRecord(Stored):
    """The newest version of a config scope (``CONFIGS``/``H#<scope>``): a component in an environment,
    an environment's overrides or a shared set; a component's head also names the sets it includes."""

    scope: str
    version: int
    includes: list[str] = []
    updated_at: str


class ConfigVersionRecord(Stored):
    """One immutable version of a config scope (``CONFIGS``/``V#<scope>#<version>``). A component's
    version keeps its own overrides, the sets it includes and the config they resolved to (secret
    references as references, never values)."""

    scope: str
    version: int
    values: dict[str, Any]
    includes: list[str] = []
    resolved: dict[str, Any] | None = None
    sources: dict[str, int] = {}
    kind: str
    author: str
    message: str
    created_at: str
    request_id: str | None = None
    #: a rollback's version it copied; a reverted deployment's id
    restored_from: int | None = None
    deployment_id: str | None = None


class ConfigPendingRecord(Stored):
    """A component config version whose rollout is owed (``CONFIGS``/``P#<scope>``)."""

    scope: str
    version: int
    at: str


class SecretValueRecord(Stored):
    """One sealed secret value of the built-in backend (partition ``SECRETVAL#<name>``): the
    AES-256-GCM envelope, base64; never the value."""

    sealed: str


class SecretVersionEntry(Stored):
    """One version of a secret: the backend's reference to its value, never the value."""

    version: int
    ref: str
    created_at: str
    created_by: str
    #: when a newer version replaced it, and until when it stays available for rollback
    superseded_at: str | None = None
    keep_until: Number | None = None


class SecretRecord(Stored):
    """A secret's metadata (partition ``SECRET``); its values live in the backend it names."""

    name: str
    description: str = ""
    backend: str
    current_version: int
    versions: list[SecretVersionEntry]
    created_at: str
    created_by: str
    updated_at: str


class MetricSeriesRecord(Stored):
    """One metric series of a component (partition ``METRIC_SERIES``)."""

    component: str
    name: str
    key: str
    dimensions: dict[str, str]
    unit: str
    first_at: int
    #: hour rollups are written for every hour before this one (epoch seconds)
    compacted_until: int


class MetricRollupRecord(Stored):
    """A minute or hour rollup of one series (partitions ``METRIC_MIN#...``, ``METRIC_HOUR#...``,
    which name the series)."""

    start: int
    period: int
    count: int
    sum: Number
    min: Number | None
    max: Number | None
    hist: dict[str, int]
    #: the last batches folded in, comma-separated (a retried batch is not counted twice)
    batches: str
    #: the spelling of ``hist``'s keys: 5 today, 4 before (pilothouse.domain.metric_legacy)
    buckets: int = 4


class MetricMinuteColumns(Stored):
    """The minutes of a block as columns, each a packed array (pilothouse.domain.metric_minutes)."""

    mm: str
    count: str
    sum: str
    min: str
    max: str
    hist: list[str]
    p50: str
    p90: str
    p99: str


class MetricMinutesRecord(Stored):
    """The minute rollups of one hour of a series (partition ``METRIC_MIN#...#<day>``, sort key
    ``H#<hour>``): one item where layout version 3 kept sixty."""

    start: int
    period: int
    #: the minutes held, in minute order, as columns
    minutes: MetricMinuteColumns
    #: the last batches folded in, comma-separated (a retried batch is not counted twice)
    batches: str
    #: the layout migration merged the hour's older minute items in (never twice)
    moved: bool = False
    #: the bucket codes of ``minutes.hist``: 5 today, 4 before (pilothouse.domain.metric_legacy)
    buckets: int = 4


class MetricCollectCursorRecord(Stored):
    """How far the collection sweep measured a component (partition ``METRIC_COLLECT#<component>``)."""

    component: str
    until: Number


class AutoscalePolicyRecord(Stored):
    """A component's auto scaling policy (partition ``AUTOSCALE``)."""

    component: str
    policy: dict[str, Any]
    updated_at: str
    updated_by: str
    last_scale_out: Number | None = None
    last_scale_in: Number | None = None


class AutoscaleDecisionRecord(Stored):
    """One evaluation of the auto scaler (partition ``AUTOSCALE_DECISIONS#<component>``)."""

    at: str
    component: str
    action: str
    current: int
    desired: int
    low: int
    high: int
    reason: str
    recommendations: list[dict[str, Any]]
    readings: dict[str, Number | None]
    outcome: str | None = None


class AuditChainHead(Stored):
    """The head of one day's audit chain (partition ``AUDIT-HEAD``, sort key the day)."""

    seq: int
    hash: str


class RateBucketRecord(Stored):
    """A rate limiter's token bucket (partition ``RATE``): tokens left at epoch time ``at``."""

    tokens: Number
    at: Number


class PolicyRecord(Stored):
    """A deployment policy (partition ``POLICY``: ``P#<name>``, and each version ``V#<name>#...``)."""

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
    deleted: bool = False


class PolicySetGeneration(Stored):
    """A fresh token on every policy write (``POLICY`` / ``#generation``): readers' caches check it."""

    token: str


def stored(model: type[Stored], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` validated by ``model``, as the record keeps it: the keys in the writer's order, the
    values as validated (a pending operation in today's spelling). ValidationError names a key the
    model does not know or a value of the wrong type.

    >>> stored(AuditEntry, {"status": 200, "at": "t", "principal": "p", "operation": "o", "outcome": "ok"})
    {'status': 200, 'at': 't', 'principal': 'p', 'operation': 'o', 'outcome': 'ok'}
    """
    dumped = model.model_validate(data).model_dump(mode="json", exclude_unset=True, by_alias=True)
    return {key: dumped[key] for key in data}


# -- backups (issue 12) ---------------------------------------------------------------------------


class BackupRunRecord(Stored):
    """A backup run (partition ``BACKUPRUN``): a create, verify, restore or drill, and its progress."""

    id: str
    kind: str
    status: str
    backup_id: str | None = None
    force: bool = False
    trigger: str = "manual"
    requested_by: str
    requested_at: str
    started_at: str | None = None
    finished_at: str | None = None
    lease_until: Number | None = None
    #: who holds the lease: ``{"host": ..., "pid": ...}`` (a local control plane finds the runs of
    #: its killed predecessor by it)
    worker: dict[str, Any] | None = None
    progress: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class RestoreMarkerRecord(Stored):
    """An unfinished restore (partition ``BACKUPRESTORE``, key ``current``): what a re-run resumes."""

    backup_id: str
    phase: str
    force: bool
    chunks_done: int
    items_done: int
    started_at: str
    updated_at: str


class BackupStatusRecord(Stored):
    """What is known of one backup beyond its manifest (partition ``BACKUPSTATUS``): its last
    verification and drill."""

    backup_id: str
    verified_at: str | None = None
    verify_outcome: str | None = None
    drilled_at: str | None = None
    drill_outcome: str | None = None


class BackupEventRecord(Stored):
    """A backup event (partition ``BACKUPEVENTS``): a backup taken, a drill's RPO/RTO, a failure,
    an RPO target missed, a retention sweep."""

    type: str
    at: str
    backup_id: str | None = None
    outcome: str
    detail: dict[str, Any] = Field(default_factory=dict)


class BackupSetupRecord(Stored):
    """A setup step of the backups' side done once (partition ``BACKUPSETUP``): the default alert
    rules installed."""

    step: str
    rules: list[str] = Field(default_factory=list)
    at: str


# -- the event feed, notifications and alerts (issue 11 §3, §4) -----------------------------------


class OutboxRecord(Stored):
    """One event waiting for the dispatcher (partition ``OUTBOX#<shard>``), written in the same
    transaction as the change it reports; deleted once dispatched."""

    id: str
    source: str
    type: str
    at: str
    component: str | None = None
    environment: str | None = None
    deployment: str | None = None
    summary: str | None = None
    detail: dict[str, Any] = {}


class NotificationChannelRecord(Stored):
    """A notification channel (partition ``NOTIFY_CHANNEL``): its URL and signing secret sealed
    (AES-GCM), never in clear."""

    id: str
    name: str
    kind: str
    url_sealed: str
    url_display: str
    secret_sealed: str | None = None
    subscriptions: list[dict[str, Any]]
    description: str = ""
    created_at: str
    created_by: str


class NotificationDeliveryRecord(Stored):
    """One event's delivery to one channel (partition ``NOTIFY_DELIVERY#<channel id>``)."""

    id: str
    channel: str
    event: dict[str, Any]
    status: str
    attempts: int
    created_at: str
    updated_at: str
    last_status_code: int | None = None
    last_latency_ms: Number | None = None
    last_error: str | None = None
    next_attempt_at: str | None = None
    delivered_at: str | None = None
    dead_lettered_at: str | None = None
    redelivered_by: str | None = None
    log: list[dict[str, Any]] = []


class AlertRuleRecord(Stored):
    """An alert rule (partition ``ALERT_RULE``, key its name)."""

    name: str
    rule: dict[str, Any]
    created_at: str
    created_by: str


class AlertRecord(Stored):
    """The state of one rule's alert (partition ``ALERT``, key the rule's name)."""

    rule: str
    kind: str
    state: str
    since: str
    component: str | None = None
    severity: str = "warning"
    evaluated_at: str | None = None
    last_values: dict[str, Any] | None = None
    fired_at: str | None = None
    resolved_at: str | None = None
    acknowledged: dict[str, Any] | None = None
    silenced: dict[str, Any] | None = None
    event_seen_at: str | None = None
    newest_backup_at: str | None = None
    history_count: int = 0


class AlertHistoryRecord(Stored):
    """One change of an alert's state (partition ``ALERT``, sort key ``H#<rule>#...``)."""

    rule: str
    at: str
    type: str
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    values: dict[str, Any] | None = None
    actor: str | None = None
    reason: str | None = None
    until: str | None = None


class SystemRecord(Stored):
    """A system (``SYSTEMS``/``S#<name>``): its spec and its latest rollout's id and status."""

    name: str
    spec: dict[str, Any]
    created_at: str
    updated_at: str
    created_by: str | None = None
    rollout: dict[str, Any] | None = None


class SystemRolloutRecord(Stored):
    """One rollout of a system (``SYSTEMS``/``R#<system>#<id>``): what it does to each member,
    each member's step, and the workflow execution that runs it."""

    id: str
    system: str
    action: str
    status: str
    waves: list[list[str]]
    max_parallel: int
    members: dict[str, dict[str, Any]]
    rollback_order: list[str] = []
    started_at: str
    started_by: str
    updated_at: str
    finished_at: str | None = None
    execution: str | None = None
    capabilities: list[str] = []
    source: str | None = None
    error: str | None = None


class WebhookSourceRecord(Stored):
    """An inbound webhook source (``WEBHOOK``/``S#<name>``): its kind and trigger rules; its
    secret is kept apart (``WebhookSecretRecord``) and never answered after creation."""

    name: str
    kind: str
    description: str = ""
    rules: list[dict[str, Any]] = []
    created_at: str
    updated_at: str
    created_by: str | None = None
    secret_rotated_at: str | None = None
    #: the role of the ``webhook:<name>`` principal its rules' workflows act as (None: no role)
    workflow_role: str | None = None


class WebhookSecretRecord(Stored):
    """A webhook source's signing secret (``WEBHOOK``/``K#<name>``), read only to verify."""

    source: str
    secret: str
    created_at: str


class WebhookDeliveryRecord(Stored):
    """One delivery a source sent (``WEBHOOK#<source>``/``D#<delivery id>``):
    the payload as received, the event in one shape, and the outcome of each rule."""

    id: str
    source: str
    received_at: str
    received_epoch: Number
    status: str
    event: dict[str, Any]
    payload: Any = None
    attempts: int = 0
    outcomes: list[dict[str, Any]] = []
    processed_at: str | None = None
    replayed_by: str | None = None
