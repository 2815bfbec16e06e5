"""Periodic housekeeping, run by the scheduled ``sweep`` function."""

from __future__ import annotations

from typing import Any

from pilothouse.services.jobs import sweep_stalled
from pilothouse.wiring import Services


def sweep(services: Services) -> dict[str, Any]:
    """Re-enqueue stalled jobs and purge expired records (idempotency keys, old audit)."""
    return {"requeued": sweep_stalled(services), "purged": services.store.purge_expired()}
