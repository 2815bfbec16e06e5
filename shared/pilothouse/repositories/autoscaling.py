"""The auto scaler's records on the storage port.

- ``AUTOSCALE`` / ``<component>``: a component's policy, who set it, and when it last scaled out / in;
- ``AUTOSCALE_DECISIONS#<component>`` / ``<sortable id>``: one evaluation's decision with its reason
  and the values behind it (kept 7 days).
"""

from __future__ import annotations

from typing import Any

from pilothouse.domain.records import stored
from pilothouse.ports import Item, Store

PK = "AUTOSCALE"
DECISIONS_KEPT_S = 7 * 86400


def decisions_pk(component: str) -> str:
    return f"AUTOSCALE_DECISIONS#{component}"


class AutoscaleRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, component: str) -> Item | None:
        return self.store.get(PK, component)

    def all(self) -> list[Item]:
        return self.store.scan_all(PK)

    def put(self, data: dict[str, Any], current: Item | None) -> Item:
        """Create or replace a policy record (conditional on ``current``: VersionConflict/AlreadyExists
        when another writer came first)."""
        item = Item(PK, data["component"], stored("AutoscalePolicyRecord", data))
        if current is None:
            return self.store.put(item, if_absent=True)
        return self.store.put(item, if_version=current.version)

    def delete(self, component: str) -> None:
        self.store.delete(PK, component)

    def add_decision(self, component: str, sk: str, data: dict[str, Any], now: float) -> None:
        item = Item(
            decisions_pk(component),
            sk,
            stored("AutoscaleDecisionRecord", data),
            expires_at=now + DECISIONS_KEPT_S,
        )
        self.store.put(item)

    def decisions(self, component: str, *, limit: int) -> list[dict[str, Any]]:
        """The newest decisions first."""
        return [i.data for i in self.store.query(decisions_pk(component), limit=limit, reverse=True).items]
