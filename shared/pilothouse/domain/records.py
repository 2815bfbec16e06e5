"""Typed models of what the control plane stores.

A component's pending command (its record's ``operation``) carries the compiled strategy plan
and the promotion's notification token as fields of their own. Releases before this one kept them
as hidden keys inside the command's parameters (``_strategy``, ``_steps``, ``_notify_token``); reading an
operation maps that old spelling onto the fields, so records written by an older release stay
readable. For example::

    >>> old = {"id": "1", "command": "deploy", "params": {"version": "v2", "_steps": []}}
    >>> op = PendingCommand.model_validate(old)
    >>> op.params, op.steps
    ({'version': 'v2'}, [])
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# the old spelling of the operation's fields inside its parameters
LEGACY_PARAM_FIELDS = {"_strategy": "strategy", "_steps": "steps", "_notify_token": "notify_token"}


class PendingCommand(BaseModel):
    """The long command a component is carrying out (its record's ``operation``).

    ``params`` hold only what the caller asked for (version, config, replicas); what the control
    plane derived lives in fields: the strategy and its compiled ``steps`` for commands that run
    as deployments, and ``notify_token`` when a promotion waits for the deployment's end.
    Keys this model does not name (``started_at``, ``deployment_started``) are kept as they are.
    """

    model_config = ConfigDict(extra="allow")

    id: str
    command: str
    params: dict[str, Any] = {}
    strategy: dict[str, Any] | None = None
    steps: list[dict[str, Any]] | None = None
    notify_token: str | None = None
    requested_at: str | None = None
    requested_epoch: int | float | None = None
    requested_by: str | None = None
    request_id: str | None = None
    attempt: int = 0
    lease_until: int | float | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_legacy(cls, data: Any) -> Any:
        """Move the hidden keys of an older release's ``params`` onto the fields."""
        if not isinstance(data, dict):
            return data
        params = data.get("params")
        if not isinstance(params, dict) or not any(k in params for k in LEGACY_PARAM_FIELDS):
            return data
        out = {**data, "params": {k: v for k, v in params.items() if k not in LEGACY_PARAM_FIELDS}}
        for old, new in LEGACY_PARAM_FIELDS.items():
            if old in params and out.get(new) is None:
                out[new] = params[old]
        return out

    @property
    def runs_as_deployment(self) -> bool:
        """Deploy, update and retry carry a compiled plan and run as a strategy workflow."""
        return self.steps is not None

    def stored(self) -> dict[str, Any]:
        """The JSON the record keeps (only the keys that were given: absent stays absent)."""
        return self.model_dump(mode="json", exclude_unset=True)

    def public(self) -> dict[str, Any]:
        """The operation as the component's answer shows it (see :func:`public_operation`)."""
        return public_operation(self.stored())

    def event_params(self) -> dict[str, Any]:
        """The parameters as the command's event shows them: the plan is named, not listed."""
        out = dict(self.params)
        if self.strategy:
            out["strategy"] = self.strategy.get("preset") or self.strategy.get("type")
        return out


def public_operation(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored operation as the component's answer has always shown it, without validating it
    (this runs on every read of a component).

    The plan appears under its old keys inside ``params`` so answers stay as they were; the
    promotion's notification token is a credential and never leaves the record.
    """
    if not any(k in stored for k in ("strategy", "steps", "notify_token")) and "_notify_token" not in (
        stored.get("params") or {}
    ):
        return stored
    out: dict[str, Any] = {}
    for key, value in stored.items():
        if key not in ("strategy", "steps", "notify_token"):
            out[key] = value
    params = {k: v for k, v in (stored.get("params") or {}).items() if k != "_notify_token"}
    for old, new in (("_strategy", "strategy"), ("_steps", "steps")):
        if stored.get(new) is not None:
            params[old] = stored[new]
    out["params"] = params
    return out


def operation_of(data: dict[str, Any]) -> PendingCommand | None:
    """The typed pending command of a stored component record (None when idle)."""
    op = data.get("operation")
    return PendingCommand.model_validate(op) if op else None


# -- what is stored -------------------------------------------------------------------------------
# The repositories validate every record they write with these models (:func:`stored`), so a write
# with an unknown or mistyped field fails at once instead of landing in the table. Reads are not
# validated (they stay dict lookups). The stored JSON is byte-for-byte what the writers built: the
# keys keep the writer's order and only the keys given are written (absent stays absent).


class Stored(BaseModel):
    """A stored record: no unknown key, no coercion (``"3"`` is not a replica count)."""

    model_config = ConfigDict(extra="forbid", strict=True)


Number = int | float


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
    # set while a control-plane restart brings the component's instances back
    restoring: dict[str, Any] | None = None


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


def stored(model: type[Stored], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` validated by ``model``, as the record keeps it: the keys in the writer's order, the
    values as validated (a pending operation in today's spelling). ValidationError names a key the
    model does not know or a value of the wrong type.

    >>> stored(AuditEntry, {"status": 200, "at": "t", "principal": "p", "operation": "o", "outcome": "ok"})
    {'status': 200, 'at': 't', 'principal': 'p', 'operation': 'o', 'outcome': 'ok'}
    """
    dumped = model.model_validate(data).model_dump(mode="json", exclude_unset=True, by_alias=True)
    return {key: dumped[key] for key in data}


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
    key: str  # the secret, shown this once


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
