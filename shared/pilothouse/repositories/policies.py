"""Deployment policies, versioned.

==================  ===========================  ================================================
partition           sort key                     what
==================  ===========================  ================================================
``POLICY``          ``<name>``                   the policy as it stands (``version`` 1, 2, ...)
``POLICY-VERSION``  ``<name>#<version, 6 dig.>``  every version ever written, kept (a deletion too)
``POLICY-SET``      ``generation``               a fresh token on every write of any policy
==================  ===========================  ================================================

The generation lets every function instance keep the policies it read and check, with one small
read per request, that none changed since (a token, not a counter: two racing writes of different
policies leave two different tokens, so no reader misses the second).

Each write puts the policy and its version record in one transaction, the policy conditionally
(absent for a creation, at the version read for an update or deletion), so two racing updates
cannot both win. ``get`` answers None for an unknown (or deleted) policy.
"""

from __future__ import annotations

import uuid
from typing import Any

from pilothouse.domain.records import stored
from pilothouse.ports import Delete, Item, Put, Store

PK = "POLICY"
VERSIONS_PK = "POLICY-VERSION"
SET_PK = "POLICY-SET"


def _generation() -> Put:
    return Put(Item(SET_PK, "generation", stored("PolicySetGeneration", {"token": uuid.uuid4().hex})))


class PolicyRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, name: str) -> Item | None:
        return self.store.get(PK, name)

    def all(self) -> list[Item]:
        return self.store.scan_all(PK)

    def write(self, data: dict[str, Any], before: Item | None) -> None:
        """Create (``before`` None) or replace the policy, keeping the version; Conflict if it
        exists already (creation) or changed since read (update)."""
        record = stored("PolicyRecord", data)
        current = Item(PK, data["name"], record)
        self.store.transact(
            [
                Put(current, if_absent=True) if before is None else Put(current, if_version=before.version),
                Put(Item(VERSIONS_PK, f"{data['name']}#{data['version']:06d}", record), if_absent=True),
                _generation(),
            ]
        )

    def generation(self) -> str | None:
        """The token of the last write of any policy (None: never written)."""
        item = self.store.get(SET_PK, "generation")
        return str(item.data["token"]) if item is not None else None

    def delete(self, data: dict[str, Any], before: Item) -> None:
        """Remove the policy (if unchanged since read), keeping its history and a deletion record."""
        record = stored("PolicyRecord", {**data, "deleted": True})
        self.store.transact(
            [
                Delete(PK, data["name"], if_version=before.version),
                Put(Item(VERSIONS_PK, f"{data['name']}#{data['version']:06d}", record), if_absent=True),
                _generation(),
            ]
        )

    def versions(self, name: str) -> list[dict[str, Any]]:
        """Every version of policy ``name``, oldest first."""
        return [i.data for i in self.store.scan_all(VERSIONS_PK, f"{name}#")]
