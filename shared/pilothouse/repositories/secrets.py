"""The secret repository: each secret's metadata on the storage port (never a value).

==========  ==========  ==============================================================
partition   sort key    what
==========  ==========  ==============================================================
``SECRET``  ``<name>``  name, description, backend, current version, every version kept
                        (number, backend reference, who, when, when it stops being kept)
==========  ==========  ==============================================================

Writes are conditional on the version read (VersionConflict for the loser of a race).
"""

from __future__ import annotations

from typing import Any

from pilothouse.domain.records import stored
from pilothouse.ports import Item, Page, Store

PK = "SECRET"


class SecretRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, name: str) -> Item | None:
        return self.store.get(PK, name)

    def page(self, *, limit: int, cursor: str | None) -> Page:
        return self.store.query(PK, limit=limit, cursor=cursor)

    def all(self) -> list[Item]:
        return list(self.store.scan_all(PK))

    def create(self, data: dict[str, Any]) -> Item:
        """Insert a secret's metadata (AlreadyExists if the name is taken)."""
        return self.store.put(Item(PK, data["name"], stored("SecretRecord", data)), if_absent=True)

    def replace(self, item: Item, data: dict[str, Any]) -> Item:
        """Rewrite ``item`` if unchanged since read (VersionConflict otherwise)."""
        return self.store.put(Item(PK, item.sk, stored("SecretRecord", data)), if_version=item.version)

    def remove(self, item: Item) -> None:
        self.store.delete(PK, item.sk, if_version=item.version)
