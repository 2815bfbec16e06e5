"""The health sweep's latest probe of each component on the storage port.

=====================  ==========================================  =============================
partition (pk)         sort key (sk)                               what
=====================  ==========================================  =============================
``HEALTH``             ``<component name>``                        the latest probe (counters
                                                                   per replica, checked_at)
=====================  ==========================================  =============================

The probe is rewritten on every sweep; the component record keeps the last *material* health
(status, replicas' health) and changes only when it does, with its event.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pilothouse.domain.records import stored
from pilothouse.errors import NotFound
from pilothouse.ports import Item, Store

PK = "HEALTH"


class HealthRepository:
    """The latest probe per component (``get`` answers None before the first sweep)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, name: str) -> dict[str, Any] | None:
        item = self.store.get(PK, name)
        return item.data if item else None

    def put(self, data: dict[str, Any]) -> None:
        """Write the probe of ``data["component"]`` (last writer wins: probes are idempotent)."""
        self.store.put(Item(PK, data["component"], stored("HealthProbeRecord", data)))

    def forget(self, name: str) -> None:
        """Drop the probe of a component that no longer runs."""
        with contextlib.suppress(NotFound):
            self.store.delete(PK, name)
