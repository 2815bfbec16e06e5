"""The component repository: records and their event history on the storage port.

Keys (single-table design, the same on every adapter):

======================  =========================================  ====================================
partition (pk)          sort key (sk)                              what
======================  =========================================  ====================================
``COMPONENT#<name>``    ``RECORD``                                 the component record (the truth)
``COMPONENT#<name>``    ``EVENT#<epoch ms>#<version>#<hex>``       one event per transition
``COMPONENT#<name>``    ``OUTBOX#<epoch ms>#<hex>``                its feed entry, until dispatched
``COMPONENT``           ``<name>``                                 the listing entry: a copy of the
                                                                   record and its version (derived)
``COMPONENT_INFLIGHT``  ``<name>``                                 a component with a pending command,
                                                                   for the sweeps (derived)
``CLAIM``               ``PORT#<port>``                            the component holding a port
``MIGRATION``           ``component-inflight-index``               the in-flight index is complete
======================  =========================================  ====================================

Every write of a record appends its event and its outbox entry in the same transaction, conditioned
on the version read, so of two racing writers exactly one lands (with its event) and the other gets
a conflict. That transaction stays inside the component's own partition, which every store commits
atomically (Azure Tables included).

The listing entry and the in-flight entry are derived from the record: written *after* the commit
by :meth:`ComponentRepository.reconcile` (idempotent: it reads the entry, then the record, and
writes the entry on the condition that it is unchanged since read, so a slow writer can never put
back an older copy over a newer one). An entry no longer called for (a deregistered component, a
command that ended) becomes a tombstone rather than going, so its key's version never repeats
(:mod:`pilothouse.repositories.derived`); listings and the in-flight index skip tombstones.
If the process dies between the commit and the reconcile, the partition's dirty marker, written
before the commit (:func:`pilothouse.repositories.outbox.mark_dirty`), brings it to the event
feed's dispatcher (the ``dispatch_events`` schedule), which reconciles the partition before it
dispatches its entries: the listing converges within one dispatch run. Where the store's
transactions span partitions (SQLite, DynamoDB, Firestore), the marker and the entries are written
in the record's own transaction instead (:func:`pilothouse.repositories.derived.commit`). Reads of
one component (``get``) always read the record itself; listings read the entries (one query).

A port claim is written before the record (and released after a deregistration commits); a claim
whose holder does not have it (its registration failed, or its process died before releasing) is
taken over once older than :data:`CLAIM_GRACE`, see ``pilothouse.services.components``.

Records written before the in-flight index existed are indexed once, by
:meth:`ComponentRepository.in_flight`'s first call on a store (a backfill), which then writes the
``MIGRATION`` marker. Records of the layout before per-component partitions are moved by
:func:`pilothouse.services.migrations.migrate`.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pilothouse.clock import iso
from pilothouse.domain.records import checked, stored
from pilothouse.errors import AlreadyExists, NotFound, VersionConflict
from pilothouse.ports import Check, Delete, Item, Put, Store, Write
from pilothouse.repositories.derived import commit, drop, is_tombstone, listed, listing, live_page, sync
from pilothouse.repositories.outbox import component_feed, dirty_put, outbox_put

#: the listing partition (derived entries; the layout before 2026-12 kept the records there)
PK = "COMPONENT"
RECORD_SK = "RECORD"
EVENT_PREFIX = "EVENT#"
#: a claim younger than this whose holder does not hold it yet may belong to a registration
#: still under way
CLAIM_GRACE = 300.0
CLAIM_PK = "CLAIM"
INFLIGHT_PK = "COMPONENT_INFLIGHT"
MIGRATION_PK = "MIGRATION"
INFLIGHT_INDEXED = "component-inflight-index"


def port_claim_sk(port: int) -> str:
    return f"PORT#{port}"


def component_pk(name: str) -> str:
    """The component's own partition: its record, events and outbox entries."""
    return f"COMPONENT#{name}"


def legacy_events_pk(name: str) -> str:
    """Where the layout before per-component partitions kept a component's events."""
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


def _inflight_entry(name: str, data: dict[str, Any] | None) -> dict[str, Any] | None:
    """The in-flight entry a record (None: absent) calls for: one while a command is pending."""
    op = (data or {}).get("operation")
    return {"component": name, "operation_id": op["id"]} if op else None


class ComponentRepository:
    """Component records, their events and port claims. ``get`` answers None for an unknown name,
    ``require`` raises NotFound."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, name: str) -> Record | None:
        item = self.store.get(component_pk(name), RECORD_SK)
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

    def claim_port(self, port: int, name: str, current: Item | None) -> Item:
        """Claim ``port`` for ``name`` over the claim ``current`` read (None: free), on the
        condition that it is unchanged since read (AlreadyExists / VersionConflict otherwise)."""
        now = self.store.clock.time()
        item = Item(CLAIM_PK, port_claim_sk(port), {"port": port, "component": name, "at": now})
        if current is None:
            return self.store.put(item, if_absent=True)
        return self.store.put(item, if_version=current.version)

    def release_port(self, claim: Item) -> None:
        """Release ``claim`` if it is unchanged since read (else someone took it over: fine)."""
        with contextlib.suppress(VersionConflict):
            self.store.delete(CLAIM_PK, claim.sk, if_version=claim.version)

    def _stamp(self) -> tuple[float, str]:
        """Now, and as the documents spell it: one event and its outbox entry share it."""
        now = self.store.clock.time()
        return now, iso(now)

    def _event(
        self,
        name: str,
        version: int,
        event: dict[str, Any],
        *,
        plain: bool = False,
        stamp: tuple[float, str] | None = None,
    ) -> Item:
        """The event's item; ``plain``: its writer built plain JSON values only (see :meth:`create`);
        ``stamp``: its time (:meth:`_stamp`; now by default)."""
        now, at = stamp or self._stamp()
        # A name can be registered again after it was deregistered, and the new record's versions
        # start again at 1: the random tail keeps its events apart from the old ones (same
        # millisecond included), while time and version still order them.
        sk = f"{int(now * 1000):015d}#{version:010d}#{secrets.token_hex(3)}"
        data = (checked if plain else stored)(
            "ComponentEventRecord", {"id": sk, "component": name, "at": at, **event}
        )
        return Item(component_pk(name), EVENT_PREFIX + sk, data)

    def _feed(
        self,
        data: dict[str, Any],
        event: dict[str, Any],
        *,
        plain: bool = False,
        stamp: tuple[float, str] | None = None,
    ) -> Put:
        """The event's outbox entry for the dispatcher (same transaction; see repositories.outbox),
        stamped as the event is."""
        environment = (data.get("spec") or {}).get("environment")
        return outbox_put(
            self.store,
            component_feed(data["name"], environment, event),
            subject=data["name"],
            partition=component_pk(data["name"]),
            plain=plain,
            stamp=stamp,
        )

    def _commit(
        self, name: str, writes: Sequence[Write], before: Record | None, after: Record | None
    ) -> builtins.list[Item]:
        """One transaction of the component's partition (the record goes from ``before`` to
        ``after``; None: absent), its dirty marker and derived entries around or inside it (see the
        module's docstring and :func:`pilothouse.repositories.derived.commit`)."""
        derived: builtins.list[tuple[str, str, dict[str, Any] | None]] = [
            (PK, name, listing(after.data, after.version) if after else None)
        ]
        if (before and before.data.get("operation")) or (after and after.data.get("operation")):
            derived.append((INFLIGHT_PK, name, _inflight_entry(name, after.data if after else None)))
        return commit(
            self.store,
            writes,
            marker=dirty_put(self.store, component_pk(name), subject=name),
            derived=derived,
            reconcile=lambda: self.reconcile(name),
        )

    def reconcile(self, name: str) -> None:
        """Bring the listing and in-flight entries of ``name`` in step with its record (after a
        commit, and from the dispatcher for a marked partition). Idempotent."""

        def entry() -> dict[str, Any] | None:
            record = self.get(name)
            return listing(record.data, record.version) if record else None

        sync(self.store, PK, name, entry)
        # no tombstone where no entry is: most components have no command (see derived's docstring)
        sync(self.store, INFLIGHT_PK, name, lambda: self._inflight(name), mark_absent=False)

    def _inflight(self, name: str) -> dict[str, Any] | None:
        record = self.get(name)
        return _inflight_entry(name, record.data if record else None)

    def create(self, data: dict[str, Any], event: dict[str, Any]) -> Record:
        """Insert a new record (AlreadyExists if the name is taken) with its first event.

        A registration builds the record and its event of plain JSON values (the spec as its
        model dumps it in JSON mode, strings, numbers, None) and no pending command or health: the
        stored models' check is then all :func:`stored` would do (its dump gives the same document
        back), so they are checked (:func:`checked`) rather than re-serialised, the outbox entry
        made of the event too. Any other record goes through :func:`stored`."""
        name = data["name"]
        plain = data.get("operation") is None and data.get("health") is None
        record = checked("ComponentRecord", data) if plain else _stored(data)
        stamp = self._stamp()
        written = self._commit(
            name,
            [
                Put(Item(component_pk(name), RECORD_SK, record), if_absent=True),
                Put(self._event(name, 1, event, plain=plain, stamp=stamp), if_absent=True),
                self._feed(data, event, plain=plain, stamp=stamp),
            ],
            None,
            Record(record, 1),
        )
        return Record(written[0].data, written[0].version)

    def update(self, record: Record, data: dict[str, Any], event: dict[str, Any]) -> Record:
        """Replace ``record`` if nobody changed it since it was read (VersionConflict otherwise)."""
        stored_data = _stored(data)
        stamp = self._stamp()
        written = self._commit(
            record.name,
            [
                Put(Item(component_pk(record.name), RECORD_SK, stored_data), if_version=record.version),
                Put(self._event(record.name, record.version + 1, event, stamp=stamp), if_absent=True),
                self._feed(data, event, stamp=stamp),
            ],
            record,
            Record(stored_data, record.version + 1),
        )
        return Record(written[0].data, written[0].version)

    def remove(self, record: Record, event: dict[str, Any]) -> None:
        """Delete the record (history stays) if unchanged since read."""
        stamp = self._stamp()
        self._commit(
            record.name,
            [
                Delete(component_pk(record.name), RECORD_SK, if_version=record.version),
                Put(self._event(record.name, record.version + 1, event, stamp=stamp), if_absent=True),
                self._feed(record.data, event, stamp=stamp),
            ],
            record,
            None,
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
        """Records in name order, filtered, read from the listing entries (one query a page; an
        entry lags its record only between a commit and its reconcile); pages hold up to
        ``limit`` matches."""
        out: list[Record] = []
        while True:
            page = live_page(self.store, PK, name_prefix, limit=limit - len(out), cursor=cursor)
            for item in page.items:
                listed = _listed(item)
                if state and listed.data["state"] != state:
                    continue
                if environment and listed.data["spec"]["environment"] != environment:
                    continue
                out.append(listed)
            cursor = page.cursor
            if len(out) >= limit or cursor is None:
                return out, cursor

    def all(self) -> builtins.list[Record]:
        return [_listed(i) for i in self.store.scan_all(PK) if not is_tombstone(i)]

    def each(self, *, page_size: int = 200) -> Iterator[Record]:
        """Every record (as listed), one page in memory at a time (for the rare passes over all)."""
        cursor = None
        while True:
            page = live_page(self.store, PK, limit=page_size, cursor=cursor)
            for item in page.items:
                yield _listed(item)
            if page.cursor is None:
                return
            cursor = page.cursor

    # -- the in-flight index ---------------------------------------------------------------------

    def in_flight(self) -> builtins.list[Record]:
        """The components with a pending command, read through the index (tombstones skipped; a
        stale entry, which a write that bypassed this repository or a slow sync of an ended command
        leaves, is turned into one on the way). On a store never indexed, the index is first built
        from every record (once; see :meth:`backfill`)."""
        if self.store.get(MIGRATION_PK, INFLIGHT_INDEXED) is None:
            self.backfill()
        out: builtins.list[Record] = []
        for entry in self.store.scan_all(INFLIGHT_PK):
            if is_tombstone(entry):
                continue
            record = self.get(entry.sk)
            if record is not None and record.data.get("operation"):
                out.append(record)
                continue
            # the record moved on without its entry: drop it (a tombstone), unless a writer
            # rewrote it since
            drop(self.store, entry)
        return out

    def backfill(self) -> int:
        """Index every record with a pending command that has no entry (records written before
        the index existed), then mark the store indexed. Each entry is written on the condition
        that its record is unchanged since read: a writer that changed it wrote its own entry.
        Safe to run twice or from two processes at once. Returns how many entries it wrote."""
        written = 0
        have = {entry.sk for entry in self.store.scan_all(INFLIGHT_PK) if not is_tombstone(entry)}
        for seen in self.each():
            if not seen.data.get("operation") or seen.name in have:
                continue
            # reads the record itself and writes conditionally: a racing writer is never undone
            written += sync(
                self.store,
                INFLIGHT_PK,
                seen.name,
                functools.partial(self._inflight, seen.name),
                mark_absent=False,
            )
        with contextlib.suppress(AlreadyExists):
            self.store.put(Item(MIGRATION_PK, INFLIGHT_INDEXED, {"indexed": True}), if_absent=True)
        return written

    def events(
        self, name: str, *, limit: int = 50, cursor: str | None = None, newest_first: bool = False
    ) -> tuple[builtins.list[dict[str, Any]], str | None]:
        page = self.store.query(
            component_pk(name), EVENT_PREFIX, limit=limit, cursor=cursor, reverse=newest_first
        )
        return [i.data for i in page.items], page.cursor

    # -- the health sweep: several events with one write, or an event alone ------------------------

    def update_with_events(
        self, record: Record, data: dict[str, Any] | None, events: Sequence[dict[str, Any]]
    ) -> Record:
        """Replace ``record`` by ``data`` (None: leave it as it is, but still on the condition that
        nobody changed it since read) and append ``events``, in one transaction."""
        writes: builtins.list[Write] = []
        pk = component_pk(record.name)
        stored_data = _stored(data) if data is not None else None
        if stored_data is None:
            writes.append(Check(pk, RECORD_SK, record.version))
        else:
            writes.append(Put(Item(pk, RECORD_SK, stored_data), if_version=record.version))
        writes += [
            Put(self._event(record.name, record.version + 1, event), if_absent=True) for event in events
        ]
        if stored_data is None:  # the record stays as it is: nothing derived changes
            self.store.transact(writes)
            return record
        written = self._commit(record.name, writes, record, Record(stored_data, record.version + 1))
        return Record(written[0].data, written[0].version)


def _listed(item: Item) -> Record:
    """The record a listing entry copies."""
    return Record(*listed(item))
