"""The health check of one component: probe its replicas, keep the counters, replace what died
or failed past its threshold, and record what changed (with events).

Only a component that is Running with no pending command is healed: a deployment, an update, a
scale or a restore in progress owns the replicas until it ends. While a command (not a restore)
runs, its replicas are still probed, read-only: the sweep's probe record (what every component view
shows) is refreshed, and nothing else is touched -- no replacement, no write of the component's
record (whose version the command's own conditional writes depend on), no event; the first check
after the command records the change with its events. The provider's
replacement runs under the revision set's lock (so it never interleaves with a deployment's
operation on the same component), and the record is written on the condition that it is still
the version read; a command that won the race meanwhile keeps its write, and the next sweep
records what runs then.

Events (on the component's history, the dispatcher's and the alert engine's input):

``component.health``      the status changed (``from``/``to``: Healthy, Degraded, Unhealthy, Unknown)
``component.unhealthy``   the status became Unhealthy: no replica serves
``replica.replaced``      a replica that exited (``reason: exited``) or stayed unhealthy past its
                          threshold (``reason: unhealthy``) was replaced (``replica``,
                          ``replacement``); the lifecycle state does not change
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pilothouse.clock import iso
from pilothouse.domain import health as rules
from pilothouse.domain.lifecycle import State
from pilothouse.errors import VersionConflict
from pilothouse.ports import Placement, ProviderError, ProviderUnavailable
from pilothouse.ports.providers import Replacement, ReplicaProbe
from pilothouse.repositories.components import Record
from pilothouse.repositories.health import HealthRepository
from pilothouse.services.components import repo
from pilothouse.services.context import ServiceContext

log = logging.getLogger(__name__)

#: longest a probe of one replica may wait for its answer, whatever the spec's timeout says
MAX_PROBE_TIMEOUT = 10.0


def eligible(record: Record | None) -> bool:
    """Whether the sweep looks at (and may heal) this component now: Running, nothing pending,
    not being restored, with a placement."""
    if record is None:
        return False
    d = record.data
    return (
        record.state == State.RUNNING.value
        and not d.get("operation")
        and not d.get("restoring")
        and bool(d.get("placement"))
    )


#: states in which a command owns replicas that serve: probed read-only (see the module's
#: docstring); a first deployment's replicas serve nothing yet, a stop's are going away
IN_COMMAND = (State.UPDATING.value, State.SCALING.value)


def observable(record: Record | None) -> bool:
    """Whether the sweep probes this component read-only now: a command runs while its replicas
    serve (an update's deployment, a scale), it has a placement, and no restore is replacing its
    replicas."""
    if record is None or eligible(record):
        return False
    d = record.data
    pending = record.state == State.RUNNING.value and bool(d.get("operation"))
    in_command = record.state in IN_COMMAND or pending
    return in_command and not d.get("restoring") and bool(d.get("placement"))


def probe_timeout(hc: dict[str, Any]) -> float:
    """One probe's timeout: the spec's, but under its interval (as a load balancer requires) and
    at most :data:`MAX_PROBE_TIMEOUT`."""
    return max(0.2, min(float(hc["timeout_seconds"]), float(hc["interval_seconds"]), MAX_PROBE_TIMEOUT))


def probe(services: ServiceContext, record: Record) -> list[ReplicaProbe] | None:
    """Probe the component's replicas through its provider (None: the provider cannot say)."""
    spec = record.data["spec"]
    try:
        provider: Any = services.provider(spec["provider"])
    except ProviderUnavailable:
        return None
    placement = Placement.from_dict(record.data["placement"])
    hc = spec["health_check"]
    if hasattr(provider, "probe_replicas"):
        return list(provider.probe_replicas(placement, probe_timeout(hc)))
    if not hasattr(provider, "check_health"):
        return None
    # a provider without replicas of its own (a Lambda): one entry per revision taking traffic
    revisions = placement.details.get("revisions") or {}
    ids = [rid for rid, info in revisions.items() if int(info.get("weight", 0)) > 0] or list(revisions)
    if not ids:
        ids = [str(placement.details.get("revision") or placement.version)]
    out = []
    for rid in ids:
        try:
            result = provider.check_health(placement, rid)
            ok, error = result.healthy, None if result.healthy else result.detail
        except ProviderError as exc:
            ok, error = False, exc.reason
        out.append(ReplicaProbe(rid, alive=True, ok=ok, error=error, revision=rid))
    return out


def _advance(
    previous: dict[str, dict[str, Any]], probes: list[ReplicaProbe], thresholds: rules.Thresholds, now: str
) -> list[dict[str, Any]]:
    return [
        rules.advance(
            previous.get(p.id),
            rules.Probe(p.id, p.alive, p.ok, p.error, p.pid, p.port, p.revision),
            thresholds,
            now,
        )
        for p in probes
    ]


def check(services: ServiceContext, name: str, *, confirm_until: float | None = None) -> str:
    """Check one component; what happened (``skipped``, ``gone``, ``unknown``, or its status,
    with ``+replaced N`` when replicas were replaced).

    A replica that fails a probe but is not yet past its unhealthy threshold is probed again every
    ``interval_seconds`` while ``confirm_until`` (monotonic) allows, so a failing replica is
    confirmed (and replaced) within one sweep instead of one sweep per failure."""
    components, probes_repo = repo(services), HealthRepository(services.store)
    record = components.get(name)
    if record is None:
        probes_repo.forget(name)
        return "gone"
    read_only = not eligible(record)
    if read_only and not observable(record):
        return "skipped"
    hc = record.data["spec"]["health_check"]
    previous = probes_repo.get(name)
    now_epoch = services.clock.time()
    if previous and now_epoch - float(previous.get("checked_epoch") or 0) < float(hc["interval_seconds"]) - 1:
        return "skipped"  # probed more recently than its interval (an interval above the sweep's minute)
    thresholds = rules.Thresholds.of(hc)
    found = probe(services, record)
    if found is None:
        return _record(services, record, previous, [], [], status=rules.UNKNOWN, read_only=read_only)
    counters = {r["id"]: r for r in (previous or {}).get("replicas") or []}
    states = _advance(counters, found, thresholds, iso(services.clock.time()))
    if read_only:  # a command owns the replicas: look, record the probe, touch nothing else
        return _record(services, record, previous, states, [], read_only=True)
    while confirm_until is not None and _unconfirmed(states, found, thresholds):
        if time.monotonic() + float(hc["interval_seconds"]) > confirm_until:
            break
        time.sleep(float(hc["interval_seconds"]))
        counters = {s["id"]: s for s in states}
        found = probe(services, record) or []
        states = _advance(counters, found, thresholds, iso(services.clock.time()))
    doomed = {
        s["id"]: why for s, p in zip(states, found, strict=True) if (why := rules.to_replace(s, p.alive))
    }
    replaced: list[tuple[dict[str, Any], Replacement, str]] = []
    placement = None
    if doomed:
        placement, replaced = _heal(services, name, record, states, doomed)
        if placement is not None:
            record = components.get(name) or record
            after = probe(services, Record({**record.data, "placement": placement.to_dict()}, 0)) or []
            keep = {s["id"]: s for s in states}
            states = _advance(keep, after, thresholds, iso(services.clock.time()))
    return _record(services, record, previous, states, replaced, placement=placement)


def _unconfirmed(
    states: list[dict[str, Any]], found: list[ReplicaProbe], thresholds: rules.Thresholds
) -> bool:
    """Some live replica failed but is not yet counted unhealthy (or recovered but not yet healthy)."""
    return any(
        p.alive and ((not p.ok and s["healthy"]) or (p.ok and not s["healthy"]))
        for s, p in zip(states, found, strict=True)
    )


def _heal(
    services: ServiceContext,
    name: str,
    record: Record,
    states: list[dict[str, Any]],
    doomed: dict[str, str],
) -> tuple[Placement | None, list[tuple[dict[str, Any], Replacement, str]]]:
    """Replace the doomed replicas through the provider, if the component is still as read and the
    provider can; the placement after and what was replaced (old state, replacement, reason)."""
    from pilothouse.services.jobs import release_for

    latest = repo(services).get(name)
    if latest is None or latest.version != record.version or not eligible(latest):
        return None, []  # a command got there first: it owns the replicas now
    provider: Any = services.provider(record.data["spec"]["provider"])
    if not hasattr(provider, "replace_replicas"):
        return None, []
    d = record.data
    release = release_for(d, version=str(d.get("version")), replicas=int(d.get("replicas") or 1))
    placement = Placement.from_dict(d["placement"])
    try:
        after, done = provider.replace_replicas(placement, release, sorted(doomed))
    except ProviderError as exc:
        log.warning("health: replacing replicas of %s failed: %s", name, exc.reason)
        return None, []
    by_id = {s["id"]: s for s in states}
    return after, [(by_id[r.old], r, doomed[r.old]) for r in done if r.old in by_id]


def _record(
    services: ServiceContext,
    record: Record,
    previous: dict[str, Any] | None,
    states: list[dict[str, Any]],
    replaced: list[tuple[dict[str, Any], Replacement, str]],
    *,
    status: str | None = None,
    placement: Placement | None = None,
    read_only: bool = False,
) -> str:
    """Write the probe record, and (unless ``read_only``: a command runs) the component record
    with its events when its health changed materially or replicas were replaced."""
    now = services.clock.time()
    status = status or rules.status_of(states)
    stored = record.data.get("health") or {}
    old_status = stored.get("status") or (previous or {}).get("status")
    since = (previous or {}).get("since") if (previous or {}).get("status") == status else None
    since = since or (stored.get("since") if stored.get("status") == status else None) or iso(now)
    health = {
        "status": status,
        "since": since,
        "checked_at": iso(now),
        "replicas": [rules.public(s) for s in states],
    }
    HealthRepository(services.store).put(
        {
            "component": record.name,
            "status": status,
            "since": since,
            "checked_at": iso(now),
            "checked_epoch": now,
            "replicas": states,
        }
    )
    if read_only:
        return status
    events = _events(record, health, old_status, replaced)
    if not events and rules.material(stored) == rules.material(health):
        return status
    _write(services, record, health, events, placement)
    return status + (f"+replaced {len(replaced)}" if replaced else "")


def _write(
    services: ServiceContext,
    record: Record,
    health: dict[str, Any],
    events: list[dict[str, Any]],
    placement: Placement | None,
) -> None:
    """Write the health (and a new placement) with the events, on the condition that the record is
    the version read. Lost to a concurrent writer: written again over the latest record while the
    component is still eligible; once a command owns it, only the events (what happened to the
    replicas stays in the history) -- the command writes its own placement."""
    for _ in range(3):
        data = None
        if eligible(record):
            data = {**record.data, "health": health}
            if placement is not None:
                data.update(placement=placement.to_dict(), url=placement.url, replicas=placement.replicas)
        if data is None and not events:
            return
        try:
            repo(services).update_with_events(record, data, events)
            return
        except VersionConflict:
            latest = repo(services).get(record.name)
            if latest is None:
                return
            record = latest
    log.info("health: %s kept changing while it was checked; its health is recorded next sweep", record.name)


def _events(
    record: Record,
    health: dict[str, Any],
    old_status: str | None,
    replaced: list[tuple[dict[str, Any], Replacement, str]],
) -> list[dict[str, Any]]:
    status = health["status"]
    healthy = sum(1 for r in health["replicas"] if r["healthy"])
    counts = {"healthy_replicas": healthy, "total_replicas": len(health["replicas"])}
    base = {"actor": "system", "version": record.data.get("version")}
    events: list[dict[str, Any]] = []
    new_by_id = {r["id"]: r for r in health["replicas"]}
    for old, replacement, reason in replaced:
        event: dict[str, Any] = {
            "type": "replica.replaced",
            **base,
            "reason": reason,
            "replica": rules.public(old),
        }
        if replacement.new and replacement.new in new_by_id:
            event["replacement"] = new_by_id[replacement.new]
        elif replacement.error:
            event["logs"] = [replacement.error]
        events.append(event)
    if status != old_status:
        events.append({"type": "component.health", "from": old_status, "to": status, **base, **counts})
        if status == rules.UNHEALTHY:
            reason = "; ".join(sorted({str(r["last_error"]) for r in health["replicas"] if r["last_error"]}))
            events.append(
                {
                    "type": "component.unhealthy",
                    "from": old_status,
                    "to": status,
                    **base,
                    **counts,
                    "reason": reason[:500] or "no healthy replica",
                }
            )
    return events
