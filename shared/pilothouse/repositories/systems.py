"""Systems and their rollouts on the storage port.

=========================  ==========================  =========================================
partition (pk)             sort key (sk)               what
=========================  ==========================  =========================================
``SYSTEM``                 ``<name>``                  a system: its spec, its latest rollout
``SYSROLLOUT#<system>``    ``<rollout id>`` (ordered)  one rollout: each member's step
=========================  ==========================  =========================================
"""

from __future__ import annotations

from typing import Any

from pilothouse.domain.records import stored
from pilothouse.errors import NotFound
from pilothouse.ports import Delete, Item, Page, Put, Store

PK = "SYSTEM"


def rollouts_pk(system: str) -> str:
    return f"SYSROLLOUT#{system}"


class SystemRepository:
    """System records and their rollouts. ``get`` answers None, ``require`` raises NotFound."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, name: str) -> Item | None:
        return self.store.get(PK, name)

    def require(self, name: str) -> Item:
        item = self.get(name)
        if item is None:
            raise NotFound(f"no system is named {name[:100]!r}")
        return item

    def create(self, data: dict[str, Any]) -> Item:
        """Insert a new system (AlreadyExists if the name is taken)."""
        return self.store.put(Item(PK, data["name"], stored("SystemRecord", data)), if_absent=True)

    def save(self, item: Item, data: dict[str, Any]) -> Item:
        """Replace ``item`` if unchanged since read (VersionConflict otherwise)."""
        return self.store.put(Item(PK, item.sk, stored("SystemRecord", data)), if_version=item.version)

    def delete(self, item: Item) -> None:
        self.store.delete(PK, item.sk, if_version=item.version)

    def page(self, *, limit: int, cursor: str | None) -> Page:
        return self.store.query(PK, limit=limit, cursor=cursor)

    # -- rollouts ---------------------------------------------------------------------------------

    def start_rollout(self, system: Item, data: dict[str, Any], rollout: dict[str, Any]) -> Item:
        """Write the new rollout and the system pointing at it, in one conditional transaction."""
        written = self.store.transact(
            [
                Put(Item(PK, system.sk, stored("SystemRecord", data)), if_version=system.version),
                Put(
                    Item(rollouts_pk(system.sk), rollout["id"], stored("SystemRolloutRecord", rollout)),
                    if_absent=True,
                ),
            ]
        )
        return written[1]

    def rollout(self, system: str, rollout_id: str) -> Item | None:
        return self.store.get(rollouts_pk(system), rollout_id)

    def save_rollout(self, item: Item, data: dict[str, Any]) -> Item:
        return self.store.put(
            Item(item.pk, item.sk, stored("SystemRolloutRecord", data)), if_version=item.version
        )

    def rollouts(self, system: str, *, limit: int, cursor: str | None) -> Page:
        return self.store.query(rollouts_pk(system), limit=limit, cursor=cursor, reverse=True)

    def delete_with_rollouts(self, item: Item) -> None:
        """The system and its rollouts' records."""
        for rollout in self.store.scan_all(rollouts_pk(item.sk)):
            self.store.delete(rollout.pk, rollout.sk)
        self.store.transact([Delete(PK, item.sk, if_version=item.version)])
