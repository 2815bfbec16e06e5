"""The API key repository: key records on the storage port (the secret is never stored).

=============  ==========  =====================================================
partition      sort key    what
=============  ==========  =====================================================
``APIKEY``     ``<id>``    a key's record: its SHA-256, role, expiry, revocation
=============  ==========  =====================================================

``get`` answers None for an unknown id, ``require`` raises NotFound.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pilothouse.domain.records import stored
from pilothouse.errors import NotFound
from pilothouse.ports import Check, Item, Page, Put, Store

PK = "APIKEY"


class ApiKeyRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, key_id: str) -> Item | None:
        return self.store.get(PK, key_id)

    def require(self, key_id: str) -> Item:
        item = self.store.get(PK, key_id)
        if item is None:
            raise NotFound(f"no API key with id {key_id!r}")
        return item

    def create(self, data: dict[str, Any]) -> None:
        """Insert a key's record (AlreadyExists if its id is taken)."""
        self.store.put(Item(PK, data["id"], stored("ApiKeyRecord", data)), if_absent=True)

    def page(self, *, limit: int, cursor: str | None) -> Page:
        return self.store.query(PK, limit=limit, cursor=cursor)

    def all(self) -> list[Item]:
        return list(self.store.scan_all(PK))

    @staticmethod
    def replace(item: Item, data: dict[str, Any]) -> Put:
        """The write that replaces ``item`` with ``data`` if it is unchanged since read."""
        return Put(Item(PK, item.sk, stored("ApiKeyRecord", data)), if_version=item.version)

    @staticmethod
    def unchanged(item: Item) -> Check:
        """A condition of a transaction: ``item`` is still as it was read."""
        return Check(PK, item.sk, item.version)

    def transact(self, ops: Sequence[Put | Check]) -> None:
        self.store.transact(list(ops))
