"""Deployment records, their events and freezes on the storage port.

=====================  =========================================  ===================================
partition (pk)         sort key (sk)                              what
=====================  =========================================  ===================================
``DEPLOYMENT#<id>``    ``RECORD``                                 a deployment record (the truth)
``DEPLOYMENT#<id>``    ``EVENT#<epoch ms, 15 digits>#<version>``  one event per change of the record
``DEPLOYMENT#<id>``    ``OUTBOX#<epoch ms>#<hex>``                its feed entry, until dispatched
``DEPLOYMENT``         ``<id>`` (time-ordered)                    the listing entry: a copy of the
                                                                  record and its version (derived)
``FREEZE``             ``component:<name>`` / ``environment:<e>``  a freeze and its reason
``PROMOTION``          ``<promotion id>``                         who started it, its capability digests
=====================  =========================================  ===================================

A change of a record, its event and its outbox entry are one transaction of the deployment's own
partition (every store commits that, Azure Tables included); the listing entry follows after the
commit and is repaired by the event feed's dispatcher if a crash came between the two, or is
written in the same transaction where the store's transactions span partitions
(:mod:`pilothouse.repositories.derived`). ``get`` reads the record itself; listings read the
entries (tombstones skipped). Deployments of the layout before per-deployment partitions are moved
by :func:`pilothouse.services.migrations.migrate`.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from pilothouse.clock import iso
from pilothouse.domain.records import stored
from pilothouse.errors import AlreadyExists, Conflict, NotFound, VersionConflict
from pilothouse.ports import Item, Put, Store
from pilothouse.repositories.derived import commit, listed, listing, live_page, sync
from pilothouse.repositories.outbox import deployment_feed, dirty_put, outbox_put

#: the listing partition (derived entries; the layout before 2026-12 kept the records there)
PK = "DEPLOYMENT"
RECORD_SK = "RECORD"
EVENT_PREFIX = "EVENT#"
FREEZE = "FREEZE"
PROMOTION = "PROMOTION"
ATTEMPTS = 20


def deployment_pk(deployment_id: str) -> str:
    """The deployment's own partition: its record, events and outbox entries."""
    return f"DEPLOYMENT#{deployment_id}"


def legacy_events_pk(deployment_id: str) -> str:
    """Where the layout before per-deployment partitions kept a deployment's events."""
    return f"DEPLOYEVENTS#{deployment_id}"


class DeploymentRepository:
    """Deployment records. ``get`` answers None for an unknown id, ``require`` raises NotFound."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, deployment_id: str) -> Item | None:
        return self.store.get(deployment_pk(deployment_id), RECORD_SK)

    def require(self, deployment_id: str) -> Item:
        item = self.get(deployment_id)
        if item is None:
            raise NotFound(f"no deployment {deployment_id!r}")
        return item

    def _event(self, deployment_id: str, version: int, event: dict[str, Any]) -> Item:
        now = self.store.clock.time()
        sk = f"{int(now * 1000):015d}#{version:08d}"
        data = {"id": sk, "deployment": deployment_id, "at": iso(now), **event}
        return Item(deployment_pk(deployment_id), EVENT_PREFIX + sk, stored("DeploymentEventRecord", data))

    def _feed(self, data: dict[str, Any], event: dict[str, Any]) -> Put:
        return outbox_put(
            self.store,
            deployment_feed(data, event),
            subject=data["component"],
            partition=deployment_pk(data["id"]),
        )

    def _commit(self, data: dict[str, Any], writes: list[Put], version: int) -> None:
        """One transaction of the deployment's partition (its record, ``writes[0]``, becomes
        ``version``), with its dirty marker and listing entry around or inside it (see the
        module's docstring and :func:`pilothouse.repositories.derived.commit`)."""
        commit(
            self.store,
            writes,
            marker=dirty_put(self.store, deployment_pk(data["id"]), subject=data["component"]),
            derived=[(PK, data["id"], listing(writes[0].item.data, version))],
            reconcile=lambda: self.reconcile(data["id"]),
        )

    def reconcile(self, deployment_id: str) -> None:
        """Bring the listing entry of a deployment in step with its record. Idempotent."""

        def entry() -> dict[str, Any] | None:
            item = self.get(deployment_id)
            return listing(item.data, item.version) if item else None

        sync(self.store, PK, deployment_id, entry)

    def create(self, data: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
        self._commit(
            data,
            [
                Put(
                    Item(deployment_pk(data["id"]), RECORD_SK, stored("DeploymentRecord", data)),
                    if_absent=True,
                ),
                Put(self._event(data["id"], 1, event), if_absent=True),
                self._feed(data, event),
            ],
            1,
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
                self._commit(
                    data,
                    [
                        Put(
                            Item(deployment_pk(deployment_id), RECORD_SK, stored("DeploymentRecord", data)),
                            if_version=item.version,
                        ),
                        Put(self._event(deployment_id, item.version + 1, event), if_absent=True),
                        self._feed(data, event),
                    ],
                    item.version + 1,
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
            page = live_page(self.store, PK, limit=limit - len(out), cursor=cursor, reverse=True)
            for item in page.items:
                d, _ = listed(item)
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
        page = self.store.query(deployment_pk(deployment_id), EVENT_PREFIX, limit=limit, cursor=cursor)
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
