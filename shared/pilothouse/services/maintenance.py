"""Periodic housekeeping, run by the scheduled ``sweep`` function."""

from __future__ import annotations

from typing import Any

from pilothouse.services.context import ServiceContext
from pilothouse.services.jobs import sweep_stalled


def sweep(services: ServiceContext) -> dict[str, Any]:
    """Re-enqueue stalled jobs and purge expired records (idempotency keys, old audit)."""
    return {"requeued": sweep_stalled(services), "purged": services.store.purge_expired()}
