"""Deployment records, their events and freezes on the storage port.

=====================  ======================================  ===================================
partition (pk)         sort key (sk)                           what
=====================  ======================================  ===================================
``DEPLOYMENT``         ``<id>`` (time-ordered)                  a deployment record
``DEPLOYEVENTS#<id>``  ``<epoch ms, 15 digits>#<version>``      one event per change of the record
``FREEZE``             ``component:<name>`` / ``environment:<e>``  a freeze and its reason
``PROMOTION``          ``<promotion id>``                       who started it, its capability digests
=====================  ======================================  ===================================
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from pilothouse.clock import iso
from pilothouse.domain.records import stored
from pilothouse.errors import AlreadyExists, Conflict, NotFound, VersionConflict
from pilothouse.ports import Item, Put, Store
from pilothouse.repositories.outbox import deployment_feed, outbox_put

PK = "DEPLOYMENT"
FREEZE = "FREEZE"
PROMOTION = "PROMOTION"
ATTEMPTS = 20


def events_pk(deployment_id: str) -> str:
    return f"DEPLOYEVENTS#{deployment_id}"


class DeploymentRepository:
    """Deployment records. ``get`` answers None for an unknown id, ``require`` raises NotFound."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, deployment_id: str) -> Item | None:
        return self.store.get(PK, deployment_id)

    def require(self, deployment_id: str) -> Item:
        item = self.store.get(PK, deployment_id)
        if item is None:
            raise NotFound(f"no deployment {deployment_id!r}")
        return item

    def _event(self, deployment_id: str, version: int, event: dict[str, Any]) -> Item:
        now = self.store.clock.time()
        sk = f"{int(now * 1000):015d}#{version:08d}"
        data = {"id": sk, "deployment": deployment_id, "at": iso(now), **event}
        return Item(events_pk(deployment_id), sk, stored("DeploymentEventRecord", data))

    def create(self, data: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
        self.store.transact(
            [
                Put(Item(PK, data["id"], stored("DeploymentRecord", data)), if_absent=True),
                Put(self._event(data["id"], 1, event), if_absent=True),
                outbox_put(self.store, deployment_feed(data, event), subject=data["component"]),
            ]
        )
        return data

    def change(
        self, deployment_id: str, mutate: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> dict[str, Any]:
        """Apply ``mutate`` (returns the event to append, or None for no change) with a conditional
        write, re-reading and re-applying on conflicts."""
        for _ in range(ATTEMPTS):
            item = self.require(deployment_id)
            data = item.data
            event = mutate(data)
            if event is None:
                return data
            data["updated_at"] = iso(self.store.clock.time())
            try:
                self.store.transact(
                    [
                        Put(
                            Item(PK, deployment_id, stored("DeploymentRecord", data)), if_version=item.version
                        ),
                        Put(self._event(deployment_id, item.version + 1, event), if_absent=True),
                        outbox_put(self.store, deployment_feed(data, event), subject=data["component"]),
                    ]
                )
                return data
            except VersionConflict:
                continue
        raise Conflict(f"deployment {deployment_id!r} is too busy; retry")

    def list(
        self,
        *,
        limit: int,
        cursor: str | None,
        component: str | None,
        environment: str | None,
        status: str | None,
    ) -> tuple[list[dict], str | None]:
        out: list[dict] = []
        while True:
            page = self.store.query(PK, limit=limit, cursor=cursor, reverse=True)
            for item in page.items:
                d = item.data
                if (
                    (component and d["component"] != component)
                    or (environment and d["environment"] != environment)
                    or (status and d["status"] != status)
                ):
                    continue
                out.append(d)
            cursor = page.cursor
            if len(out) >= limit or cursor is None:
                return out, cursor

    def events(
        self, deployment_id: str, *, limit: int, cursor: str | None
    ) -> tuple[builtins.list[dict], str | None]:
        self.require(deployment_id)
        page = self.store.query(events_pk(deployment_id), limit=limit, cursor=cursor)
        return [i.data for i in page.items], page.cursor


class FreezeRepository:
    """Freezes, one per frozen component or environment. ``get`` answers None when not frozen."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def _sk(scope: str, target: str) -> str:
        return f"{scope}:{target}"

    def get(self, scope: str, target: str) -> dict[str, Any] | None:
        item = self.store.get(FREEZE, self._sk(scope, target))
        return item.data if item is not None else None

    def put(self, data: dict[str, Any]) -> None:
        self.store.put(Item(FREEZE, self._sk(data["scope"], data["target"]), data))

    def add(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """Freeze if not frozen yet (a conditional write, so of racing freezes one wins); None
        then, else the freeze that is there and stays."""
        while True:
            try:
                self.store.put(Item(FREEZE, self._sk(data["scope"], data["target"]), data), if_absent=True)
                return None
            except AlreadyExists:
                kept = self.get(data["scope"], data["target"])
                if kept is not None:
                    return kept

    def delete(self, scope: str, target: str) -> None:
        self.store.delete(FREEZE, self._sk(scope, target))

    def all(self) -> list[dict[str, Any]]:
        return [i.data for i in self.store.scan_all(FREEZE)]


class PromotionRepository:
    """Promotion records (who started one, the digests of its capability token). ``get`` answers
    None for an unknown id."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, promotion_id: str) -> dict[str, Any] | None:
        item = self.store.get(PROMOTION, promotion_id)
        return item.data if item is not None else None

    def put(self, data: dict[str, Any]) -> None:
        self.store.put(Item(PROMOTION, data["id"], data))
