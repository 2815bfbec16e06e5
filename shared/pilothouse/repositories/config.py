"""The config repository: immutable versions of config scopes on the storage port.

A *scope* is what one history of versions belongs to: ``component:<name>@<environment>`` (a
component's own overrides in an environment), ``environment:<environment>`` (that environment's
overrides) or ``set:<name>`` (a shared set components include).

==================  ==============  ====================================================
partition (pk)      sort key (sk)   what
==================  ==============  ====================================================
``CONFIG``          ``<scope>``     the head: the scope's newest version (and includes)
``CONFIGV#<scope>`` ``<version:010>`` one immutable version
``CONFIG_PENDING``  ``<scope>``     a component version not rolled out yet (the sweep's
                                    worklist: a writer that died before its rollout)
==================  ==============  ====================================================

A new version is written with its head in one transaction, conditioned on the head read, so of
two racing writers exactly one lands and the other gets VersionConflict.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pilothouse.domain.records import stored
from pilothouse.errors import VersionConflict
from pilothouse.ports import Item, Page, Put, Store

HEAD_PK = "CONFIG"
PENDING_PK = "CONFIG_PENDING"


def component_scope(name: str, environment: str) -> str:
    return f"component:{name}@{environment}"


def environment_scope(environment: str) -> str:
    return f"environment:{environment}"


def set_scope(name: str) -> str:
    return f"set:{name}"


def versions_pk(scope: str) -> str:
    return f"CONFIGV#{scope}"


def version_sk(version: int) -> str:
    return f"{version:010d}"


class ConfigRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def head(self, scope: str) -> Item | None:
        """The scope's head (None: no version yet)."""
        return self.store.get(HEAD_PK, scope)

    def version(self, scope: str, version: int) -> Item | None:
        return self.store.get(versions_pk(scope), version_sk(version))

    def latest(self, scope: str) -> Item | None:
        """The scope's newest version (None: none yet)."""
        head = self.head(scope)
        return self.version(scope, head.data["version"]) if head else None

    def heads(self, prefix: str) -> list[Item]:
        """The heads of every scope whose name starts with ``prefix`` (``component:``...)."""
        return list(self.store.scan_all(HEAD_PK, prefix))

    def page(self, scope: str, *, limit: int, cursor: str | None, newest_first: bool = True) -> Page:
        return self.store.query(versions_pk(scope), limit=limit, cursor=cursor, reverse=newest_first)

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
        record = Item(versions_pk(scope), version_sk(data["version"]), stored("ConfigVersionRecord", data))
        head_put = (
            Put(Item(HEAD_PK, scope, head_data), if_version=head.version)
            if head is not None
            else Put(Item(HEAD_PK, scope, head_data), if_absent=True)
        )
        ops = [head_put, Put(record, if_absent=True)]
        if scope.startswith("component:"):  # its rollout is owed until done()
            marker = {"scope": scope, "version": data["version"], "at": now}
            ops.append(Put(Item(PENDING_PK, scope, stored("ConfigPendingRecord", marker))))
        written = self.store.transact(ops)
        return written[1] if len(written) > 1 else record

    def pending(self) -> list[Item]:
        """The component scopes whose newest version's rollout is owed."""
        return list(self.store.scan_all(PENDING_PK))

    def done(self, scope: str, version: int) -> None:
        """The rollout of ``version`` (or a newer one) is settled: drop the marker if it is not newer."""
        marker = self.store.get(PENDING_PK, scope)
        if marker is not None and marker.data["version"] <= version:
            # a newer version's marker may have replaced it meanwhile: that one stays
            with contextlib.suppress(VersionConflict):
                self.store.delete(PENDING_PK, scope, if_version=marker.version)
