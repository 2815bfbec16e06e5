"""Periodic housekeeping, run by the scheduled ``sweep`` function."""

from __future__ import annotations

from typing import Any

from pilothouse.services.context import ServiceContext
from pilothouse.services.jobs import sweep_stalled


def sweep(services: ServiceContext) -> dict[str, Any]:
    """Re-enqueue stalled jobs, roll out config versions whose rollout is owed, and purge expired
    records (idempotency keys, old audit)."""
    from pilothouse.services.config import sweep_pending

    requeued = sweep_stalled(services)
    rolled_out = sweep_pending(services)
    out: dict[str, Any] = {"requeued": requeued, "purged": services.store.purge_expired()}
    if rolled_out:
        out["config_rollouts"] = rolled_out
    return out
