"""Deployment policies, versioned.

==========  ==============================  ================================================
partition   sort key                        what
==========  ==============================  ================================================
``POLICY``  ``P#<name>``                    the policy as it stands (``version`` 1, 2, ...)
``POLICY``  ``V#<name>#<version, 6 dig.>``  every version ever written, kept (a deletion too)
``POLICY``  ``#generation``                 a fresh token on every write of any policy
==========  ==============================  ================================================

The generation lets every function instance keep the policies it read and check, with one small
read per request, that none changed since (a token, not a counter: two racing writes of different
policies leave two different tokens, so no reader misses the second).

Each write puts the policy, its version record and a new generation in one transaction of the one
``POLICY`` partition (every store commits that, Azure Tables included; policy writes are rare),
the policy conditionally (absent for a creation, at the version read for an update or deletion),
so two racing updates cannot both win. ``get`` answers None for an unknown (or deleted) policy.
The layout before (``POLICY/<name>``, ``POLICY-VERSION``, ``POLICY-SET``) is moved by
:func:`migrate_legacy`.
"""

from __future__ import annotations

import uuid
from typing import Any

from pilothouse.domain.records import stored
from pilothouse.ports import Delete, Item, Put, Store

PK = "POLICY"
CURRENT = "P#"
VERSION = "V#"
GENERATION = "#generation"
LEGACY_VERSIONS_PK = "POLICY-VERSION"
LEGACY_SET_PK = "POLICY-SET"


def _generation() -> Put:
    return Put(Item(PK, GENERATION, stored("PolicySetGeneration", {"token": uuid.uuid4().hex})))


def _version(data: dict[str, Any], record: dict[str, Any]) -> Put:
    return Put(Item(PK, f"{VERSION}{data['name']}#{data['version']:06d}", record), if_absent=True)


class PolicyRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, name: str) -> Item | None:
        return self.store.get(PK, CURRENT + name)

    def all(self) -> list[Item]:
        return self.store.scan_all(PK, CURRENT)

    def write(self, data: dict[str, Any], before: Item | None) -> None:
        """Create (``before`` None) or replace the policy, keeping the version; Conflict if it
        exists already (creation) or changed since read (update)."""
        record = stored("PolicyRecord", data)
        current = Item(PK, CURRENT + data["name"], record)
        self.store.transact(
            [
                Put(current, if_absent=True) if before is None else Put(current, if_version=before.version),
                _version(data, record),
                _generation(),
            ]
        )

    def generation(self) -> str | None:
        """The token of the last write of any policy (None: never written)."""
        item = self.store.get(PK, GENERATION)
        return str(item.data["token"]) if item is not None else None

    def delete(self, data: dict[str, Any], before: Item) -> None:
        """Remove the policy (if unchanged since read), keeping its history and a deletion record."""
        record = stored("PolicyRecord", {**data, "deleted": True})
        self.store.transact(
            [
                Delete(PK, CURRENT + data["name"], if_version=before.version),
                _version(data, record),
                _generation(),
            ]
        )

    def versions(self, name: str) -> list[dict[str, Any]]:
        """Every version of policy ``name``, oldest first."""
        return [i.data for i in self.store.scan_all(PK, f"{VERSION}{name}#")]


def migrate_legacy(store: Store) -> int:
    """Move policies, their versions and the generation of the layout before into the one
    ``POLICY`` partition (versions kept; an item already at its new place wins); idempotent."""
    from dataclasses import replace

    legacy = [
        (i, CURRENT + i.sk) for i in store.scan_all(PK) if not i.sk.startswith((CURRENT, VERSION, GENERATION))
    ]
    legacy += [(i, VERSION + i.sk) for i in store.scan_all(LEGACY_VERSIONS_PK)]
    legacy += [(i, GENERATION) for i in store.scan_all(LEGACY_SET_PK)]
    moved = 0
    for item, sk in legacy:
        if store.get(PK, sk) is None:
            store.load([replace(item, pk=PK, sk=sk)])
            moved += 1
        store.delete(item.pk, item.sk)
    return moved
