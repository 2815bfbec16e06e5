"""The config repository: immutable versions of config scopes on the storage port.

A *scope* is what one history of versions belongs to: ``component:<name>@<environment>`` (a
component's own overrides in an environment), ``environment:<environment>`` (that environment's
overrides) or ``set:<name>`` (a shared set components include).

===========  ==============================  ==================================================
partition    sort key (sk)                   what
===========  ==============================  ==================================================
``CONFIGS``  ``H#<scope>``                   the head: the scope's newest version (and includes)
``CONFIGS``  ``V#<scope>#<version:010>``     one immutable version
``CONFIGS``  ``P#<scope>``                   a component version not rolled out yet (the
                                             sweep's worklist: a writer that died before its
                                             rollout)
===========  ==============================  ==================================================

A new version is written with its head (and a component's pending marker) in one transaction of
the one ``CONFIGS`` partition (``Store.transaction_scope``), conditioned on the head read, so of
two racing writers exactly one lands and the other gets VersionConflict. The layout before
(``CONFIG/<scope>``, ``CONFIGV#<scope>/<version>``, ``CONFIG_PENDING/<scope>``) is moved by
:func:`migrate_legacy`.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any

from pilothouse.domain.records import stored
from pilothouse.errors import VersionConflict
from pilothouse.ports import Item, Page, Put, Store

PK = "CONFIGS"
HEAD = "H#"
PENDING = "P#"
#: the partitions of the layout before (version 2)
LEGACY_HEADS = "CONFIG"
LEGACY_VERSIONS = "CONFIGV#"
LEGACY_PENDING = "CONFIG_PENDING"


def component_scope(name: str, environment: str) -> str:
    return f"component:{name}@{environment}"


def environment_scope(environment: str) -> str:
    return f"environment:{environment}"


def set_scope(name: str) -> str:
    return f"set:{name}"


def versions_prefix(scope: str) -> str:
    """The sort keys of a scope's versions start with this (scopes hold no ``#``)."""
    return f"V#{scope}#"


def version_sk(scope: str, version: int) -> str:
    return f"{versions_prefix(scope)}{version:010d}"


class ConfigRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def head(self, scope: str) -> Item | None:
        """The scope's head (None: no version yet)."""
        return self.store.get(PK, HEAD + scope)

    def version(self, scope: str, version: int) -> Item | None:
        return self.store.get(PK, version_sk(scope, version))

    def latest(self, scope: str) -> Item | None:
        """The scope's newest version (None: none yet)."""
        head = self.head(scope)
        return self.version(scope, head.data["version"]) if head else None

    def heads(self, prefix: str) -> list[Item]:
        """The heads of every scope whose name starts with ``prefix`` (``component:``...)."""
        return list(self.store.scan_all(PK, HEAD + prefix))

    def page(self, scope: str, *, limit: int, cursor: str | None, newest_first: bool = True) -> Page:
        return self.store.query(PK, versions_prefix(scope), limit=limit, cursor=cursor, reverse=newest_first)

    def append(self, head: Item | None, data: dict[str, Any], now: str) -> Item:
        """Write version ``data["version"]`` (the head's + 1) and move the head to it, if the head
        is still as read (VersionConflict otherwise, AlreadyExists for a first version taken)."""
        scope = data["scope"]
        expected = (head.data["version"] if head else 0) + 1
        if data["version"] != expected:
            raise ValueError(f"version {data['version']} does not follow {expected - 1}")
        head_data = stored(
            "ConfigHeadRecord",
            {
                "scope": scope,
                "version": data["version"],
                "includes": data.get("includes", []),
                "updated_at": now,
            },
        )
        record = Item(PK, version_sk(scope, data["version"]), stored("ConfigVersionRecord", data))
        head_put = (
            Put(Item(PK, HEAD + scope, head_data), if_version=head.version)
            if head is not None
            else Put(Item(PK, HEAD + scope, head_data), if_absent=True)
        )
        ops = [head_put, Put(record, if_absent=True)]
        if scope.startswith("component:"):  # its rollout is owed until done()
            marker = {"scope": scope, "version": data["version"], "at": now}
            ops.append(Put(Item(PK, PENDING + scope, stored("ConfigPendingRecord", marker))))
        written = self.store.transact(ops)
        return written[1] if len(written) > 1 else record

    def pending(self) -> list[Item]:
        """The component scopes whose newest version's rollout is owed."""
        return list(self.store.scan_all(PK, PENDING))

    def done(self, scope: str, version: int) -> None:
        """The rollout of ``version`` (or a newer one) is settled: drop the marker if it is not newer."""
        marker = self.store.get(PK, PENDING + scope)
        if marker is not None and marker.data["version"] <= version:
            # a newer version's marker may have replaced it meanwhile: that one stays
            with contextlib.suppress(VersionConflict):
                self.store.delete(PK, PENDING + scope, if_version=marker.version)


def migrate_legacy(store: Store, partitions: set[str]) -> int:
    """Move heads, versions (``partitions``: the ``CONFIGV#`` partitions found) and pending markers
    of the layout before into ``CONFIGS`` (versions kept; an item already at its new place wins;
    an old item is deleted only once its copy is there): idempotent and resumable."""
    legacy = [(i, HEAD + i.sk) for i in store.scan_all(LEGACY_HEADS)]
    legacy += [(i, PENDING + i.sk) for i in store.scan_all(LEGACY_PENDING)]
    for pk in sorted(partitions):
        scope = pk.split("#", 1)[1]
        legacy += [(i, versions_prefix(scope) + i.sk) for i in store.scan_all(pk)]
    moved = 0
    for item, sk in legacy:
        if store.get(PK, sk) is None:
            store.load([replace(item, pk=PK, sk=sk)])
            moved += 1
        store.delete(item.pk, item.sk)
    return moved
