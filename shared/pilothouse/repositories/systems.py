"""Systems and their rollouts on the storage port.

===========  ================================  =========================================
partition    sort key (sk)                     what
===========  ================================  =========================================
``SYSTEMS``  ``S#<name>``                      a system: its spec, its latest rollout
``SYSTEMS``  ``R#<system>#<rollout id>``       one rollout: each member's step (ids ordered)
===========  ================================  =========================================

A system and its rollouts share one partition, so starting a rollout (the new rollout and the
system pointing at it) is one transaction of one partition (``Store.transaction_scope``). The
layout before (``SYSTEM/<name>``, ``SYSROLLOUT#<system>/<id>``) is moved by
:func:`migrate_legacy`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pilothouse.domain.records import stored
from pilothouse.errors import NotFound
from pilothouse.ports import Delete, Item, Page, Put, Store

PK = "SYSTEMS"
SYSTEM = "S#"
#: the partitions of the layout before (version 2)
LEGACY_PK = "SYSTEM"
LEGACY_ROLLOUTS = "SYSROLLOUT#"
#: deletes per transaction
BATCH = 25


def rollout_prefix(system: str) -> str:
    return f"R#{system}#"


class SystemRepository:
    """System records and their rollouts. ``get`` answers None, ``require`` raises NotFound. A
    system item's ``sk`` is its name."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, name: str) -> Item | None:
        item = self.store.get(PK, SYSTEM + name)
        return replace(item, sk=name) if item else None

    def require(self, name: str) -> Item:
        item = self.get(name)
        if item is None:
            raise NotFound(f"no system is named {name[:100]!r}")
        return item

    def create(self, data: dict[str, Any]) -> Item:
        """Insert a new system (AlreadyExists if the name is taken)."""
        item = self.store.put(Item(PK, SYSTEM + data["name"], stored("SystemRecord", data)), if_absent=True)
        return replace(item, sk=data["name"])

    def save(self, item: Item, data: dict[str, Any]) -> Item:
        """Replace ``item`` if unchanged since read (VersionConflict otherwise)."""
        written = self.store.put(
            Item(PK, SYSTEM + item.sk, stored("SystemRecord", data)), if_version=item.version
        )
        return replace(written, sk=item.sk)

    def delete(self, item: Item) -> None:
        self.store.delete(PK, SYSTEM + item.sk, if_version=item.version)

    def page(self, *, limit: int, cursor: str | None) -> Page:
        page = self.store.query(PK, SYSTEM, limit=limit, cursor=cursor)
        return Page([replace(i, sk=i.sk[len(SYSTEM) :]) for i in page.items], page.cursor)

    # -- rollouts ---------------------------------------------------------------------------------

    def start_rollout(self, system: Item, data: dict[str, Any], rollout: dict[str, Any]) -> Item:
        """Write the new rollout and the system pointing at it, in one conditional transaction."""
        record = Item(PK, rollout_prefix(system.sk) + rollout["id"], stored("SystemRolloutRecord", rollout))
        written = self.store.transact(
            [
                Put(Item(PK, SYSTEM + system.sk, stored("SystemRecord", data)), if_version=system.version),
                Put(record, if_absent=True),
            ]
        )
        return written[1]

    def rollout(self, system: str, rollout_id: str) -> Item | None:
        return self.store.get(PK, rollout_prefix(system) + rollout_id)

    def save_rollout(self, item: Item, data: dict[str, Any]) -> Item:
        return self.store.put(
            Item(item.pk, item.sk, stored("SystemRolloutRecord", data)), if_version=item.version
        )

    def rollouts(self, system: str, *, limit: int, cursor: str | None) -> Page:
        return self.store.query(PK, rollout_prefix(system), limit=limit, cursor=cursor, reverse=True)

    def delete_with_rollouts(self, item: Item) -> None:
        """The system and its rollouts' records (the rollouts first, 25 to a transaction; the
        system last, on the condition that it is unchanged since read)."""
        rollouts = self.store.scan_all(PK, rollout_prefix(item.sk))
        for start in range(0, len(rollouts), BATCH):
            self.store.transact([Delete(r.pk, r.sk) for r in rollouts[start : start + BATCH]])
        self.store.transact([Delete(PK, SYSTEM + item.sk, if_version=item.version)])


def migrate_legacy(store: Store, partitions: set[str]) -> int:
    """Move systems and their rollouts (``partitions``: the ``SYSROLLOUT#`` partitions found) of
    the layout before into ``SYSTEMS`` (versions kept; an item already at its new place wins; an
    old item is deleted only once its copy is there): idempotent and resumable."""
    legacy = [(i, SYSTEM + i.sk) for i in store.scan_all(LEGACY_PK)]
    for pk in sorted(partitions):
        system = pk.split("#", 1)[1]
        legacy += [(i, rollout_prefix(system) + i.sk) for i in store.scan_all(pk)]
    moved = 0
    for item, sk in legacy:
        if store.get(PK, sk) is None:
            store.load([replace(item, pk=PK, sk=sk)])
            moved += 1
        store.delete(item.pk, item.sk)
    return moved
