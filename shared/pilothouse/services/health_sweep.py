"""The health sweep: every minute, one message per batch of Running components on the health
queue (so a large fleet is checked by many consumers at once), each batch checked component by
component (:func:`pilothouse.services.health.check`), and the local replicas nothing records
reaped (:func:`reap`).

    sweep(services)            # scheduled: fan out, reap orphans
    handle_message(services, body)   # the health queue's consumer: check one batch

A batch names when it stops being worth checking (``not_after``, the next sweep's time): a
message that waited longer, behind a backlog, is dropped, as the next sweep covers its components.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pilothouse.clock import real_seconds
from pilothouse.errors import VersionConflict
from pilothouse.repositories.components import Record
from pilothouse.services.components import repo
from pilothouse.services.context import ServiceContext
from pilothouse.services.health import check, eligible, observable

log = logging.getLogger(__name__)

#: a sweep's batches are worth checking until the next sweep starts (a minute, as the schedule;
#: shorter on the embedded scheduler's faster time scale, see :func:`sweep_period`)
SWEEP_PERIOD_SECONDS = 60.0
#: a batch's last confirmation of a failing replica ends this long before the next sweep
CONFIRM_MARGIN_SECONDS = 5.0
#: most components one message may name (a larger one is cut: the next sweep covers the rest)
MAX_BATCH = 1000
#: components checked at once within one batch (their probes mostly wait on the network)
BATCH_THREADS = 8


def sweep_period(services: ServiceContext) -> float:
    """Seconds from one sweep to the next on the control plane's clock: a minute, divided by the
    ``schedule_scale`` setting (a scaled clock's minute is already short in real time)."""
    return SWEEP_PERIOD_SECONDS / services.settings.schedule_scale


def sweep(services: ServiceContext) -> dict[str, Any]:
    """Send one health-queue message per batch of eligible components (and of components in a
    command, probed read-only) and reap orphaned local replicas; counts of what it did."""
    settings = services.settings
    names: list[str] = []
    keep: set[str] = set()
    local = False
    restoring = False
    for record in repo(services).each(page_size=500):
        if eligible(record) or observable(record):  # the latter probed read-only (a command runs)
            names.append(record.name)
        if record.data["spec"].get("provider") == "local":
            local = True
            restoring = restoring or bool(record.data.get("restoring"))
            placement = record.data.get("placement") or {}
            keep.update(str(r.get("id")) for r in (placement.get("details") or {}).get("replicas") or [])
    size = settings.health_batch_size
    batches = [names[i : i + size] for i in range(0, len(names), size)]
    not_after = services.clock.time() + sweep_period(services)
    if batches:
        services.queue.send_batch(
            settings.health_queue,
            [json.dumps({"components": batch, "not_after": not_after}) for batch in batches],
        )
    reaped = reap(services, keep) if local and not restoring else []
    return {"components": len(names), "batches": len(batches), "reaped": len(reaped)}


def handle_message(services: ServiceContext, body: str) -> dict[str, Any]:
    """Check the batch a health-queue message names; what each component came to."""
    try:
        message = json.loads(body)
        names = message["components"]
        not_after = float(message.get("not_after") or 0)
        if not isinstance(names, list) or not all(isinstance(n, str) and 0 < len(n) <= 256 for n in names):
            raise TypeError("components must be a list of names")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning("health: a malformed batch message was dropped: %s", exc)
        return {"invalid": 1}  # retrying cannot fix it; the next sweep sends well-formed batches
    names = names[:MAX_BATCH]
    period = sweep_period(services)
    left = not_after - services.clock.time() if not_after else period
    if left <= 0:
        return {"dropped": len(names)}  # the next sweep has these already
    margin = CONFIRM_MARGIN_SECONDS * period / SWEEP_PERIOD_SECONDS
    confirm_until = time.monotonic() + real_seconds(services.clock, max(0.0, left - margin))
    return check_batch(services, names, confirm_until=confirm_until)


def check_batch(services: ServiceContext, names: list[str], *, confirm_until: float | None = None) -> dict:
    """Check each component of ``names`` (a few at once); one that fails is logged and left to the
    next sweep, the others go on."""

    def one(name: str) -> str:
        try:
            return check(services, name, confirm_until=confirm_until)
        except Exception as exc:  # one component's failure must not cost the others their check
            log.exception("health: checking %s failed", name)
            return f"error: {type(exc).__name__}"

    if len(names) <= 1:
        return {n: one(n) for n in names}
    with ThreadPoolExecutor(max_workers=min(BATCH_THREADS, len(names))) as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


def reap(services: ServiceContext, keep: set[str]) -> list[dict[str, Any]]:
    """Stop the local replicas that no component record names and no deployment under way
    started (what a killed control plane left), with a ``replica.reaped`` event on the component
    each belonged to (if it still exists). Only the control plane that owns the data dir reaps."""
    provider: Any = services.provider("local")
    if not hasattr(provider, "reap_orphans"):
        return []
    reaped: list[dict[str, Any]] = provider.reap_orphans(keep)
    components = repo(services)
    for orphan in reaped:
        name = orphan.get("component")
        record = components.get(str(name)) if name else None
        if record is not None:
            _reaped_event(services, record, orphan)
    return reaped


def _reaped_event(services: ServiceContext, record: Record, orphan: dict[str, Any]) -> None:
    replica = {
        "id": str(orphan["id"]),
        "pid": orphan.get("pid"),
        "port": orphan.get("port"),
        "revision": orphan.get("revision"),
        "healthy": False,
        "last_probe": None,
        "last_error": None,
    }
    event = {
        "type": "replica.reaped",
        "actor": "system",
        "reason": "started by a control plane that stopped before recording it",
        "replica": replica,
    }
    for _ in range(3):
        try:
            repo(services).update_with_events(record, None, [event])
            return
        except VersionConflict:
            latest = repo(services).get(record.name)
            if latest is None:
                return
            record = latest
