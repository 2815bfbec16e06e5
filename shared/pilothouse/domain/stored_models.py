"""The typed models of what is stored; they load on the first write
(see :func:`pilothouse.domain.records.stored`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pilothouse.domain.records import PendingCommand

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


class AuditChainHead(Stored):
    """The head of one day's audit chain (partition ``AUDIT-HEAD``, sort key the day)."""

    seq: int
    hash: str


class RateBucketRecord(Stored):
    """A rate limiter's token bucket (partition ``RATE``): tokens left at epoch time ``at``."""

    tokens: Number
    at: Number


class PolicyRecord(Stored):
    """A deployment policy (partition ``POLICY``, and each version in ``POLICY-VERSION``)."""

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
    """A fresh token on every policy write (partition ``POLICY-SET``): readers' caches check it."""

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
