"""Health of a component from its replicas' probes: pure rules, no I/O.

A probe of one replica says whether its process still runs (``alive``) and whether it answered its
health check (``ok``). Counters carried from one sweep to the next decide, as a load balancer's
target health does, when a replica turns unhealthy (``unhealthy_threshold`` failures in a row) and
healthy again (``healthy_threshold`` successes in a row). A replica seen for the first time starts
healthy: a provider adds a replica only once it has passed its health check.

The component's status follows from its replicas:

    >>> status_of([{"healthy": True}, {"healthy": True}])
    'Healthy'
    >>> status_of([{"healthy": True}, {"healthy": False}])
    'Degraded'
    >>> status_of([{"healthy": False}])
    'Unhealthy'
    >>> status_of([])
    'Unknown'

and a replica to replace is one whose process exited, or one that is unhealthy (as a Kubernetes
ReplicaSet replaces a pod whose container exited or whose liveness probe failed past its
threshold).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HEALTHY, DEGRADED, UNHEALTHY, UNKNOWN = "Healthy", "Degraded", "Unhealthy", "Unknown"
STATUSES = (HEALTHY, DEGRADED, UNHEALTHY, UNKNOWN)

#: why a replica is replaced (the ``reason`` of a ``replica.replaced`` event)
EXITED, FAILING = "exited", "unhealthy"

#: the keys of a replica in a component's ``health`` (what views and events show)
PUBLIC_REPLICA_KEYS = ("id", "pid", "port", "revision", "healthy", "last_probe", "last_error")

#: longest error text kept per replica (a probe's answer may be long)
MAX_ERROR = 300


@dataclass(frozen=True)
class Probe:
    """One replica probed now: ``alive`` False when its process is gone (no probe was sent)."""

    id: str
    alive: bool
    ok: bool
    error: str | None = None
    pid: int | None = None
    port: int | None = None
    revision: str | None = None


@dataclass(frozen=True)
class Thresholds:
    """How many probes in a row turn a replica healthy or unhealthy."""

    healthy: int = 1
    unhealthy: int = 3

    @classmethod
    def of(cls, health_check: dict[str, Any]) -> Thresholds:
        """From a component spec's ``health_check``."""
        return cls(
            healthy=int(health_check.get("healthy_threshold") or 1),
            unhealthy=int(health_check.get("unhealthy_threshold") or 3),
        )


def status_of(replicas: list[dict[str, Any]]) -> str:
    """``Healthy`` if every replica is, ``Unhealthy`` if none is, ``Degraded`` in between,
    ``Unknown`` without replicas."""
    if not replicas:
        return UNKNOWN
    healthy = sum(1 for r in replicas if r.get("healthy"))
    if healthy == len(replicas):
        return HEALTHY
    return UNHEALTHY if healthy == 0 else DEGRADED


def advance(
    previous: dict[str, Any] | None, probe: Probe, thresholds: Thresholds, now: str
) -> dict[str, Any]:
    """The replica's probe state after ``probe`` (``previous``: its state from the last sweep, or
    None for a replica seen for the first time).

    >>> t = Thresholds(healthy=2, unhealthy=2)
    >>> s = advance(None, Probe("r1", alive=True, ok=False, error="503"), t, "t1")
    >>> s["healthy"], s["failures"]
    (True, 1)
    >>> s = advance(s, Probe("r1", alive=True, ok=False, error="503"), t, "t2")
    >>> s["healthy"], s["last_error"]
    (False, '503')
    >>> s = advance(s, Probe("r1", alive=True, ok=True), t, "t3")
    >>> s["healthy"], s["successes"]
    (False, 1)
    >>> advance(s, Probe("r1", alive=True, ok=True), t, "t4")["healthy"]
    True
    """
    was_healthy = True if previous is None else bool(previous.get("healthy"))
    successes = int((previous or {}).get("successes") or 0)
    failures = int((previous or {}).get("failures") or 0)
    if probe.alive and probe.ok:
        successes, failures = successes + 1, 0
        healthy = was_healthy or successes >= thresholds.healthy
        error = None
    else:
        successes, failures = 0, failures + 1
        # an exited process is down now, whatever the threshold says
        healthy = was_healthy and probe.alive and failures < thresholds.unhealthy
        error = (probe.error or ("process exited" if not probe.alive else "health check failed"))[:MAX_ERROR]
    return {
        "id": probe.id,
        "pid": probe.pid,
        "port": probe.port,
        "revision": probe.revision,
        "healthy": healthy,
        "last_probe": now,
        "last_error": error,
        "successes": successes,
        "failures": failures,
    }


def to_replace(state: dict[str, Any], alive: bool) -> str | None:
    """Why this replica is to be replaced (:data:`EXITED` or :data:`FAILING`), or None."""
    if not alive:
        return EXITED
    if not state["healthy"]:
        return FAILING
    return None


def public(replica: dict[str, Any]) -> dict[str, Any]:
    """A replica's probe state as views and events show it (no counters)."""
    return {k: replica.get(k) for k in PUBLIC_REPLICA_KEYS}


def material(health: dict[str, Any] | None) -> tuple[Any, ...]:
    """What of a component's health is worth a write of its record when it changes: the status
    and each replica's identity and health (not the probe times)."""
    if not health:
        return ()
    return (
        health.get("status"),
        tuple(
            (r.get("id"), r.get("pid"), r.get("port"), r.get("healthy")) for r in health.get("replicas") or []
        ),
    )
