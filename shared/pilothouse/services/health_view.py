"""A component as callers see it with the health sweep's latest probe: the record keeps the last
*material* health (status, each replica's health), written with its event when it changes; the
probe times (``checked_at``, each replica's ``last_probe`` and ``last_error``) come from the
sweep's probe record, rewritten every sweep without touching the component's version."""

from __future__ import annotations

from pilothouse.domain.health import public
from pilothouse.repositories.components import Record
from pilothouse.repositories.health import HealthRepository
from pilothouse.services.context import ServiceContext


def fresh(services: ServiceContext, record: Record) -> Record:
    """``record`` with the latest probe's health in place of the one it stored (the same status
    and replicas unless a sweep is writing it right now; then the probe is the newer)."""
    probe = HealthRepository(services.store).get(record.name)
    if probe is None:
        return record
    health = {
        "status": probe["status"],
        "since": probe["since"],
        "checked_at": probe["checked_at"],
        "replicas": [public(r) for r in probe.get("replicas") or []],
    }
    return Record({**record.data, "health": health}, record.version)
