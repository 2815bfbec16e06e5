"""The component repository: records and their event history on the storage port.

Keys (single-table design, the same on every adapter):

=====================  ==========================================  =============================
partition (pk)         sort key (sk)                               what
=====================  ==========================================  =============================
``COMPONENT``          ``<name>``                                  the component record
``EVENTS#<name>``      ``<epoch ms, 15 digits>#<version>#<hex>``   one event per transition
``CLAIM``              ``PORT#<port>``                             the component holding a port
``COMPONENT_INFLIGHT`` ``<name>``                                  a component with a pending
                                                                   command (for the sweeps)
``MIGRATION``          ``component-inflight-index``                the index above is complete
=====================  ==========================================  =============================

Every write of a record appends its event in the same transaction, conditioned on the version
read, so of two racing writers exactly one lands (with its event) and the other gets a conflict.
The same transaction writes the record's in-flight index entry while it has a pending command
(``operation``) and deletes it when the command ends, so the sweeps read the few components in
flight instead of every component. Records written before the index existed are indexed once, by
:meth:`ComponentRepository.in_flight`'s first call on a store (a backfill), which then writes the
``MIGRATION`` marker.
"""

from __future__ import annotations

import builtins
import contextlib
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pilothouse.clock import iso
from pilothouse.domain.records import stored
from pilothouse.errors import AlreadyExists, NotFound, VersionConflict
from pilothouse.ports import Check, Delete, Item, Put, Store, Write
from pilothouse.repositories.outbox import component_feed, outbox_put

PK = "COMPONENT"
CLAIM_PK = "CLAIM"
INFLIGHT_PK = "COMPONENT_INFLIGHT"
MIGRATION_PK = "MIGRATION"
INFLIGHT_INDEXED = "component-inflight-index"


def port_claim_sk(port: int) -> str:
    return f"PORT#{port}"


def events_pk(name: str) -> str:
    return f"EVENTS#{name}"


def _stored(data: dict[str, Any]) -> dict[str, Any]:
    """The record as written, validated by :class:`ComponentRecord`: its pending operation in
    today's spelling (an operation an older release stored with hidden keys in its params is
    rewritten on its next write)."""
    return stored("ComponentRecord", data)


@dataclass(frozen=True)
class Record:
    """A component record as read: its data and the version to condition the next write on."""

    data: dict[str, Any]
    version: int

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def state(self) -> str:
        return self.data["state"]


def _index_write(name: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[Write]:
    """The in-flight index write that goes with a record moving from ``before`` to ``after``
    (None: absent): the entry while a pending command is recorded, none once it has ended."""
    op = (after or {}).get("operation")
    if op:
        return [Put(Item(INFLIGHT_PK, name, {"component": name, "operation_id": op["id"]}))]
    if (before or {}).get("operation"):
        return [Delete(INFLIGHT_PK, name)]
    return []


class ComponentRepository:
    """Component records, their events and port claims. ``get`` answers None for an unknown name,
    ``require`` raises NotFound."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, name: str) -> Record | None:
        item = self.store.get(PK, name)
        return Record(item.data, item.version) if item else None

    def require(self, name: str) -> Record:
        record = self.get(name)
        if record is None:
            raise NotFound(f"no component named {name!r}")
        return record

    # -- port claims: written in the same transaction as the record they belong to ---------------

    def port_claim(self, port: int) -> Item | None:
        """The claim on ``port`` (its data names the ``component``), if any."""
        return self.store.get(CLAIM_PK, port_claim_sk(port))

    @staticmethod
    def claim_port(port: int, name: str, current: Item | None) -> Put:
        """The write that claims ``port`` for ``name`` over the claim ``current`` read (None: free)."""
        item = Item(CLAIM_PK, port_claim_sk(port), {"port": port, "component": name})
        if current is not None and current.data["component"] != name:
            return Put(item, if_version=current.version)
        return Put(item, if_absent=current is None, if_version=current.version if current else None)

    @staticmethod
    def release_port(claim: Item) -> Delete:
        """The write that releases ``claim`` if it is unchanged since read."""
        return Delete(CLAIM_PK, claim.sk, if_version=claim.version)

    def _event(self, name: str, version: int, event: dict[str, Any]) -> Item:
        now = self.store.clock.time()
        # A name can be registered again after it was deregistered, and the new record's versions
        # start again at 1: the random tail keeps its events apart from the old ones (same
        # millisecond included), while time and version still order them.
        sk = f"{int(now * 1000):015d}#{version:010d}#{secrets.token_hex(3)}"
        data = stored("ComponentEventRecord", {"id": sk, "component": name, "at": iso(now), **event})
        return Item(events_pk(name), sk, data)

    def _feed(self, data: dict[str, Any], event: dict[str, Any]) -> Put:
        """The event's outbox entry for the dispatcher (same transaction; see repositories.outbox)."""
        environment = (data.get("spec") or {}).get("environment")
        return outbox_put(self.store, component_feed(data["name"], environment, event), subject=data["name"])

    def create(self, data: dict[str, Any], event: dict[str, Any], extra: Sequence[Write] = ()) -> Record:
        """Insert a new record (AlreadyExists if the name is taken) with its first event, and ``extra``
        operations (claims) in the same transaction."""
        written = self.store.transact(
            [
                Put(Item(PK, data["name"], _stored(data)), if_absent=True),
                Put(self._event(data["name"], 1, event), if_absent=True),
                self._feed(data, event),
                *_index_write(data["name"], None, data),
                *extra,
            ]
        )
        return Record(written[0].data, written[0].version)

    def update(self, record: Record, data: dict[str, Any], event: dict[str, Any]) -> Record:
        """Replace ``record`` if nobody changed it since it was read (VersionConflict otherwise)."""
        written = self.store.transact(
            [
                Put(Item(PK, record.name, _stored(data)), if_version=record.version),
                Put(self._event(record.name, record.version + 1, event), if_absent=True),
                self._feed(data, event),
                *_index_write(record.name, record.data, data),
            ]
        )
        return Record(written[0].data, written[0].version)

    def remove(self, record: Record, event: dict[str, Any], extra: Sequence[Write] = ()) -> None:
        """Delete the record (history stays) if unchanged since read, with ``extra`` operations
        (releasing its claims) in the same transaction."""
        self.store.transact(
            [
                Delete(PK, record.name, if_version=record.version),
                Put(self._event(record.name, record.version + 1, event), if_absent=True),
                self._feed(record.data, event),
                *_index_write(record.name, record.data, None),
                *extra,
            ]
        )

    def list(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        state: str | None = None,
        environment: str | None = None,
        name_prefix: str = "",
    ) -> tuple[list[Record], str | None]:
        """Records in name order, filtered; pages hold up to ``limit`` matches."""
        out: list[Record] = []
        while True:
            page = self.store.query(PK, name_prefix, limit=limit - len(out), cursor=cursor)
            for item in page.items:
                if state and item.data["state"] != state:
                    continue
                if environment and item.data["spec"]["environment"] != environment:
                    continue
                out.append(Record(item.data, item.version))
            cursor = page.cursor
            if len(out) >= limit or cursor is None:
                return out, cursor

    def all(self) -> builtins.list[Record]:
        return [Record(i.data, i.version) for i in self.store.scan_all(PK)]

    def each(self, *, page_size: int = 200) -> Iterator[Record]:
        """Every record, one page in memory at a time (for the rare passes over all of them)."""
        cursor = None
        while True:
            page = self.store.query(PK, limit=page_size, cursor=cursor)
            for item in page.items:
                yield Record(item.data, item.version)
            if page.cursor is None:
                return
            cursor = page.cursor

    # -- the in-flight index ---------------------------------------------------------------------

    def in_flight(self) -> builtins.list[Record]:
        """The components with a pending command, read through the index (a stale entry, which
        only a write that bypassed this repository leaves, is dropped on the way). On a store
        never indexed, the index is first built from every record (once; see :meth:`backfill`)."""
        if self.store.get(MIGRATION_PK, INFLIGHT_INDEXED) is None:
            self.backfill()
        out: builtins.list[Record] = []
        for entry in self.store.scan_all(INFLIGHT_PK):
            record = self.get(entry.sk)
            if record is not None and record.data.get("operation"):
                out.append(record)
                continue
            # the record moved on without its entry: drop it, unless a writer rewrote it since
            with contextlib.suppress(VersionConflict):
                self.store.delete(INFLIGHT_PK, entry.sk, if_version=entry.version)
        return out

    def backfill(self) -> int:
        """Index every record with a pending command that has no entry (records written before
        the index existed), then mark the store indexed. Each entry is written on the condition
        that its record is unchanged since read: a writer that changed it wrote its own entry.
        Safe to run twice or from two processes at once. Returns how many entries it wrote."""
        written = 0
        have = {entry.sk for entry in self.store.scan_all(INFLIGHT_PK)}
        for record in self.each():
            if not record.data.get("operation") or record.name in have:
                continue
            entry = _index_write(record.name, None, record.data)
            for _ in range(5):
                try:
                    self.store.transact([Check(PK, record.name, record.version), *entry])
                    written += 1
                    break
                except VersionConflict:  # changed since read: its writer indexed it; look again
                    latest = self.get(record.name)
                    if latest is None or not latest.data.get("operation"):
                        break
                    record, entry = latest, _index_write(latest.name, None, latest.data)
        with contextlib.suppress(AlreadyExists):
            self.store.put(Item(MIGRATION_PK, INFLIGHT_INDEXED, {"indexed": True}), if_absent=True)
        return written

    def events(
        self, name: str, *, limit: int = 50, cursor: str | None = None, newest_first: bool = False
    ) -> tuple[builtins.list[dict[str, Any]], str | None]:
        page = self.store.query(events_pk(name), limit=limit, cursor=cursor, reverse=newest_first)
        return [i.data for i in page.items], page.cursor

    # -- the health sweep: several events with one write, or an event alone ------------------------

    def update_with_events(
        self, record: Record, data: dict[str, Any] | None, events: Sequence[dict[str, Any]]
    ) -> Record:
        """Replace ``record`` by ``data`` (None: leave it as it is, but still on the condition that
        nobody changed it since read) and append ``events``, in one transaction."""
        writes: builtins.list[Write] = []
        if data is None:
            writes.append(Check(PK, record.name, record.version))
        else:
            writes.append(Put(Item(PK, record.name, _stored(data)), if_version=record.version))
            writes += _index_write(record.name, record.data, data)
        writes += [
            Put(self._event(record.name, record.version + 1, event), if_absent=True) for event in events
        ]
        written = self.store.transact(writes)
        return Record(written[0].data, written[0].version) if data is not None else record
