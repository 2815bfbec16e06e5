"""The providers port (see :mod:`pilothouse.ports`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


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
    #: environment variables carrying the secrets the config references, resolved when the
    #: revision starts (values for local processes; Powertools Parameters references for Lambda).
    #: Never logged, never stored (kept out of repr and comparisons)
    secret_env: dict[str, str] = field(default_factory=dict, repr=False, compare=False)


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


# -- health sweep and self-healing (optional: a provider without them is probed by check_health) ---


@dataclass(frozen=True)
class ReplicaProbe:
    """One instance probed now. ``alive`` False: its process is gone (no request was sent);
    ``ok``: it answered its health check. ``pid``/``port`` are None where the provider has none."""

    id: str
    alive: bool
    ok: bool
    error: str | None = None
    pid: int | None = None
    port: int | None = None
    revision: str | None = None


@dataclass(frozen=True)
class Replacement:
    """A replica stopped and the one started in its place (``new`` None: none could start)."""

    old: str
    new: str | None
    error: str | None = None


class ReplicaHealing(Protocol):
    """A provider whose instances the health sweep probes one by one and replaces (self-healing)."""

    def probe_replicas(self, placement: Placement, timeout_seconds: float) -> list[ReplicaProbe]:
        """Probe every instance of every revision of ``placement`` now."""
        ...

    def replace_replicas(
        self, placement: Placement, release: Release, replica_ids: list[str]
    ) -> tuple[Placement, list[Replacement]]:
        """Stop the named instances (those still running) and start one healthy instance of the
        same revision in place of each; the placement after, and what was replaced."""
        ...

    def reap_orphans(self, keep: set[str]) -> list[dict[str, Any]]:
        """Stop the instances this provider started that no placement records (a control plane
        killed between starting and recording them) and that are not in ``keep``; their records."""
        ...


class MetricsSource(Protocol):
    """A provider that measures what its components serve without their help (issue 11 §1)."""

    def collect_metrics(self, placement: Placement, since: float, until: float) -> list[dict[str, Any]]:
        """Datapoints of [since, until) (epoch seconds) as dicts: ``name``, ``value``, ``timestamp``
        (epoch seconds), ``unit``, ``dimensions``."""
        ...


@dataclass(frozen=True)
class ReplicaEndpoint:
    """Where one instance answers on its own (not through the router): ``alive`` False when its
    process is gone (nothing should be sent to it)."""

    id: str
    url: str
    alive: bool
    revision: str | None = None


class ReplicaEndpoints(Protocol):
    """A provider whose instances can be reached one by one (per-replica Prometheus scrapes)."""

    def replica_endpoints(self, placement: Placement) -> list[ReplicaEndpoint]:
        """Every instance of every revision of ``placement``, as it is now."""
        ...
