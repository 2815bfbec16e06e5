"""The ports: every interface the services ask of the outside world, and the values they exchange.

This module imports nothing else of Pilothouse (the import contract in ``pyproject.toml`` checks
it), so a service, an adapter or a test double can depend on it without pulling anything in.
Adapters implement these interfaces (``store/``, ``messaging/``, ``blobs/``, ``providers/``,
``orchestrators/``; the embedded cloud's invoker is ``local/invoker.py`` and the embedded engine
``services/embedded_orchestrator.py``); :mod:`pilothouse.wiring` picks and assembles them; the
services receive them through a :class:`pilothouse.services.context.ServiceContext`.

The rules every adapter honours are written next to its helpers: :mod:`pilothouse.store.base`,
:mod:`pilothouse.messaging.base`, :mod:`pilothouse.blobs.base`, :mod:`pilothouse.providers.base`.

>>> call = task_call("arn:aws:lambda:us-east-1:123456789012:function:deploy_task:live", {"x": 1})
>>> (call.function, call.payload, call.lambda_envelope)
('deploy_task', {'x': 1}, False)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# -- clock ---------------------------------------------------------------------------------------


class Clock(Protocol):
    """Wall-clock time in seconds since the epoch (UTC)."""

    def time(self) -> float: ...


# -- store ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One stored record. ``expires_at`` (epoch seconds) makes it disappear after that time."""

    pk: str
    sk: str
    data: dict[str, Any]
    version: int = 0
    expires_at: float | None = None


@dataclass(frozen=True)
class Put:
    item: Item
    if_absent: bool = False
    if_version: int | None = None


@dataclass(frozen=True)
class Delete:
    pk: str
    sk: str
    if_version: int | None = None


@dataclass(frozen=True)
class Check:
    """A condition on an item that is not written: it must exist with this version."""

    pk: str
    sk: str
    version: int


#: one write of a transaction (Store.transact)
Write = Put | Delete | Check


@dataclass(frozen=True)
class Page:
    items: list[Item]
    cursor: str | None = None


class Store(Protocol):
    """Versioned items by partition and sort key, with conditional writes (see :mod:`pilothouse.store.base`).

    A failed ``if_absent`` raises ``pilothouse.errors.AlreadyExists``, a failed ``if_version``
    ``pilothouse.errors.VersionConflict``.
    """

    #: the clock that decides expiry (``Item.expires_at``)
    clock: Clock

    def get(self, pk: str, sk: str) -> Item | None: ...

    def put(self, item: Item, *, if_absent: bool = False, if_version: int | None = None) -> Item: ...

    def delete(self, pk: str, sk: str, *, if_version: int | None = None) -> None: ...

    def query(
        self, pk: str, prefix: str = "", *, limit: int = 100, cursor: str | None = None, reverse: bool = False
    ) -> Page: ...

    def scan_all(self, pk: str, prefix: str = "", *, page_size: int = 500) -> list[Item]: ...

    def transact(self, operations: Sequence[Write]) -> list[Item]: ...

    def purge_expired(self) -> int: ...

    def close(self) -> None: ...


# -- queue ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One received message. ``receipt_handle`` identifies this receipt, not the message."""

    id: str
    body: str
    receipt_handle: str
    receive_count: int
    sent_at: float
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueSpec:
    """A queue's settings. ``dead_letter_queue`` names a queue that must already be declared."""

    name: str
    visibility_timeout: int = 30
    max_receive_count: int | None = None
    dead_letter_queue: str | None = None


class MessagingError(Exception):
    """Base class of the errors of the queue port."""


class QueueNotFound(MessagingError):
    """The queue was never declared."""

    def __init__(self, queue: str) -> None:
        super().__init__(f"queue {queue!r} does not exist (declare it first)")
        self.queue = queue


class MessageTooLarge(MessagingError):
    """The message (body plus attributes) is larger than 256 KiB."""


class InvalidReceiptHandle(MessagingError):
    """The receipt handle is not the latest one of a message still in the queue."""


class InvalidParameter(MessagingError):
    """An argument is outside what the port allows (e.g. a delay over 900 s)."""


class Queue(Protocol):
    """Named message queues with SQS standard-queue semantics (see :mod:`pilothouse.messaging.base`)."""

    def declare(self, spec: QueueSpec) -> None:
        """Create the queue, or update its settings if it exists (idempotent)."""
        ...

    def send(
        self, queue: str, body: str, *, delay_seconds: float = 0, attributes: dict[str, str] | None = None
    ) -> str:
        """Enqueue one message; returns its id."""
        ...

    def send_batch(self, queue: str, bodies: list[str], *, delay_seconds: float = 0) -> list[str]:
        """Enqueue several messages (any number; adapters split as their service needs); ids in order."""
        ...

    def receive(
        self,
        queue: str,
        *,
        max_messages: int = 10,
        visibility_timeout: int | None = None,
        wait_seconds: float = 0,
    ) -> list[Message]:
        """Claim up to ``max_messages`` visible messages."""
        ...

    def delete(self, queue: str, receipt_handle: str) -> None:
        """Remove a received message; a stale handle is ignored."""
        ...

    def change_visibility(self, queue: str, receipt_handle: str, timeout: float) -> None:
        """Make a received message visible again ``timeout`` seconds from now (0: at once)."""
        ...

    def depth(self, queue: str) -> dict:
        """Approximate counts: ``{"visible": n, "in_flight": n, "delayed": n}``."""
        ...

    def purge(self, queue: str) -> None:
        """Delete every message of the queue."""
        ...

    def url_of(self, queue: str) -> str | None:
        """The URL a state machine's ``sqs:sendMessage`` task names, or None where queues have no URL
        (the in-memory and local queues)."""
        ...


# -- blobs ---------------------------------------------------------------------------------------

DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class BlobInfo:
    """What is known of a stored object; ``modified`` is seconds since the epoch."""

    key: str
    size: int
    etag: str
    modified: float
    content_type: str | None = None
    metadata: dict[str, str] | None = None


class BlobError(Exception):
    """Base class of the errors of the blobs port."""


class BlobNotFound(BlobError):
    """No object has this key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no blob with key {key!r}")
        self.key = key


class InvalidKey(BlobError, ValueError):
    """The key breaks the rules of :mod:`pilothouse.blobs.base`."""


class InvalidBlobArgument(BlobError, ValueError):
    """An argument other than the key is outside what the port allows."""


class Blobs(Protocol):
    """An object store: bytes under '/'-separated keys, with a content type and metadata."""

    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        metadata: dict[str, str] | None = None,
    ) -> BlobInfo: ...

    def get(self, key: str) -> bytes: ...

    def head(self, key: str) -> BlobInfo: ...

    def delete(self, key: str) -> None: ...

    def list(
        self, prefix: str = "", *, limit: int = 1000, cursor: str | None = None
    ) -> tuple[list[BlobInfo], str | None]: ...

    def exists(self, key: str) -> bool: ...


# -- invoker -------------------------------------------------------------------------------------


class FunctionError(Exception):
    """The function raised: ``error_type`` names the exception (as Lambda's errorType does)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


class UnknownFunction(Exception):
    """No function of that name exists here."""


class Invoker(Protocol):
    """Runs the functions that workflow Task states name."""

    def invoke(self, function: str, payload: Any) -> Any:
        """Invoke ``function`` synchronously with ``payload``; return its result.

        Raises :class:`FunctionError` when the function fails and :class:`UnknownFunction`.
        """
        ...

    def timeout_of(self, function: str) -> float:
        """How long ``function`` may run, in seconds (:class:`UnknownFunction` if there is none)."""
        ...


@dataclass(frozen=True)
class TaskCall:
    """How a Task state's resource names a function, and the payload it passes."""

    function: str
    payload: Any
    #: the result is wrapped as the Step Functions Lambda integration returns it ({"Payload": ...})
    lambda_envelope: bool
    wait_for_token: bool


LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"


def _function_name(ref: str) -> str:
    """A function name from a name, a name:qualifier, or a Lambda ARN (with or without qualifier)."""
    if ref.startswith("arn:"):
        parts = ref.split(":")
        # arn:aws:lambda:region:account:function:name[:qualifier]
        if len(parts) >= 7 and parts[5] == "function":
            return parts[6]
        raise ValueError(f"not a Lambda function ARN: {ref}")
    return ref.split(":", 1)[0]


def task_call(resource: str, payload: Any) -> TaskCall:
    """How to run a Task state's resource; ValueError for resources the engine cannot run."""
    if resource in (LAMBDA_INVOKE, LAMBDA_INVOKE + ".waitForTaskToken"):
        if not isinstance(payload, dict) or "FunctionName" not in payload:
            raise ValueError("lambda:invoke needs Parameters.FunctionName")
        return TaskCall(
            function=_function_name(str(payload["FunctionName"])),
            payload=payload.get("Payload", {}),
            lambda_envelope=True,
            wait_for_token=resource.endswith(".waitForTaskToken"),
        )
    if resource.startswith("arn:aws:states:::"):
        raise ValueError(f"the service integration {resource} is not available on the embedded engine")
    return TaskCall(
        function=_function_name(resource), payload=payload, lambda_envelope=False, wait_for_token=False
    )


def lambda_envelope(result: Any) -> dict[str, Any]:
    """The shape Step Functions' optimized Lambda integration returns."""
    return {"ExecutedVersion": "$LATEST", "Payload": result, "StatusCode": 200}


# -- orchestrator --------------------------------------------------------------------------------


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


# -- providers -----------------------------------------------------------------------------------


class ProviderUnavailable(Exception):
    """No adapter for this provider (or store, queue, blobs) is configured in this deployment."""


@dataclass(frozen=True)
class HealthCheck:
    """How to tell that an instance serves: an HTTP GET of ``path`` answering 2xx."""

    path: str = "/health"
    interval_seconds: float = 1.0
    timeout_seconds: float = 30.0
    healthy_threshold: int = 1
    unhealthy_threshold: int = 3


@dataclass(frozen=True)
class Release:
    """One version of a component as the provider should run it."""

    component: str
    version: str
    target: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    health: HealthCheck = field(default_factory=HealthCheck)
    replicas: int = 1


@dataclass(frozen=True)
class Placement:
    """Where a release runs: a stable URL plus provider details (JSON) needed to find it again."""

    url: str | None
    version: str
    replicas: int
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "version": self.version, "replicas": self.replicas, "details": self.details}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Placement:
        return cls(
            url=data.get("url"),
            version=data["version"],
            replicas=int(data.get("replicas", 1)),
            details=dict(data.get("details") or {}),
        )


class ProviderError(Exception):
    """A provider operation failed.

    ``logs`` carries the last lines of output of what failed (for the event); ``placement`` is what
    still serves after the failure (for example the old version after a failed update), or None.
    """

    def __init__(self, reason: str, *, logs: list[str] | None = None, placement: Placement | None = None):
        super().__init__(reason)
        self.reason = reason
        self.logs = logs or []
        self.placement = placement


class PortUnavailable(ProviderError):
    """The port a component's spec names is taken by another process: a conflict, not a health failure."""


@dataclass(frozen=True)
class HealthResult:
    """Whether a revision's instances pass their health check right now."""

    healthy: bool
    checked: int
    failing: int
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "checked": self.checked,
            "failing": self.failing,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Metrics:
    """What a revision served over a window: the inputs of a canary analysis.

    ``error_rate`` and ``p99_ms`` are None when there were no requests (no data).
    """

    requests: int
    errors: int
    error_rate: float | None
    p99_ms: float | None
    window_seconds: float
    alarms_in_alarm: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "p99_ms": self.p99_ms,
            "window_seconds": self.window_seconds,
            "alarms_in_alarm": list(self.alarms_in_alarm),
        }


class Provider(Protocol):
    """A deployment target. Every method blocks until its work is done or has failed."""

    name: str

    def deploy(self, release: Release) -> Placement:
        """Start ``release.replicas`` instances of the release and wait until they are healthy."""
        ...

    def scale(self, current: Placement, release: Release, replicas: int) -> Placement:
        """Run ``replicas`` instances of the current release behind the same URL."""
        ...

    def stop(self, current: Placement) -> None:
        """Stop every instance of the placement (gracefully first)."""
        ...

    def restore(self, current: Placement, release: Release) -> Placement:
        """After a control-plane restart: adopt instances still healthy, restart the others."""
        ...

    def close(self) -> None:
        """Stop everything this provider object started (control plane shutting down)."""
        ...


class RevisionProvider(Provider, Protocol):
    """A provider that can run two revisions side by side and split traffic between them.

    ``Placement.details`` then carries ``"revisions"`` ({id: {"version", "replicas", "weight"}}),
    ``"stable"`` and ``"candidate"`` (see :mod:`pilothouse.providers.base`).
    """

    def prepare(self, current: Placement | None, release: Release) -> Placement:
        """Start ``release`` as a new revision (the ``candidate``) beside what serves, taking 0 % of
        the traffic, and wait until it is healthy (ProviderError with logs otherwise; ``current``
        keeps serving). With ``current`` None the candidate is the only revision."""
        ...

    def shift(self, placement: Placement, weights: dict[str, int]) -> Placement:
        """Route traffic by percentage between revisions (ids of ``placement``; weights sum to 100)."""
        ...

    def set_replicas(self, placement: Placement, revision: str, replicas: int) -> Placement:
        """Run ``replicas`` instances of one revision (0 stops them all but keeps the revision);
        traffic between revisions then follows their replica counts unless ``shift`` set weights."""
        ...

    def check_health(self, placement: Placement, revision: str) -> HealthResult:
        """Health of every instance of ``revision`` now."""
        ...

    def read_metrics(self, placement: Placement, revision: str, window_seconds: float) -> Metrics:
        """Requests, errors and p99 latency of ``revision`` over the last ``window_seconds``."""
        ...

    def finalize(self, placement: Placement, revision: str) -> Placement:
        """Make ``revision`` the only one (100 %, the new ``stable``); stop the others."""
        ...

    def rollback(self, placement: Placement, revision: str) -> Placement:
        """Send all traffic back to ``revision`` (normally ``stable``) at once and stop the others."""
        ...
