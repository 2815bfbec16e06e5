"""Derived records: listing entries and indexes that copy a record of another partition.

A transaction stays inside one partition (``Store.transaction_scope``), so a record's listing
entry (a copy in a partition that lists every record of its kind) or index entry cannot be written
in the record's transaction. It is written after the commit instead, by :func:`sync`, which makes
it what the record calls for and is safe to run any number of times, from any process, in any
order: it reads the entry *first*, then the record, and writes the entry on the condition that it
is unchanged since read. A writer holding an older record therefore cannot put back an older copy
over a newer entry: whoever wrote the newer entry read the record after the older writer's commit.

That argument needs an entry's version never to repeat. A deleted item that is written again
starts at version 1, so a slow writer holding version 1 of the entry before a delete could land
its older copy on the new entry (ABA). An entry that is no longer called for is therefore never
deleted: it becomes a *tombstone* (:func:`is_tombstone`), written on the version read like any
other write, so versions keep rising; readers of derived partitions skip tombstones (:func:`live`,
:func:`live_page`). A tombstone expires after :data:`TOMBSTONE_TTL` (``Item.expires_at``: every
store treats an expired item as absent; DynamoDB's and Firestore's TTL or ``purge_expired`` remove
it), far longer than any sync takes between its reads and its write.

While an entry is *absent* (never written, or its tombstone expired) a writer whose record calls
for none finds nothing to delete, and a slower writer may still add the entry its older record
called for. With ``mark_absent`` (listings), :func:`sync` closes that too: it writes a tombstone
where nothing is, so the slower writer's create fails and it looks again. Without it (the
in-flight index, where a component without a command is the rule and an entry for each would
make the index as long as the listing) such an entry names a command that has ended: its readers
check the record and turn it into a tombstone on the way; an entry is never missing for a record
that calls for one.

A crash between the commit and the sync leaves the entry behind; the partition's dirty marker,
written before the commit, brings it to the event feed's dispatcher, which syncs it again
(:mod:`pilothouse.repositories.outbox`, ``pilothouse.services.event_feed.RECONCILERS``).

Where a store's transactions span partitions (``transaction_scope`` ``"store"``: SQLite, DynamoDB,
Firestore; not Azure Tables, nor the test suite, which narrows every store to ``"partition"``),
:func:`commit` writes the marker and the entries in the record's own transaction instead, and no
sync follows: the entries are what the record as written calls for, and the record's condition
orders every transaction that writes them, so they cannot be older than their record. A sync that
runs meanwhile (the dispatcher's, for an older marker) reads the entry before the record, so it
either sees both or writes on a version that has moved and looks again. That transaction may also
carry a :class:`Rider`: the audit record of the request making the change (:func:`riding`), so a
change and its record commit together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

from pilothouse.errors import AlreadyExists, VersionConflict
from pilothouse.ports import Item, Page, Put, Store, Write

ATTEMPTS = 20
#: the most operations a transaction of the port holds
MAX_OPERATIONS = 25
#: how long a tombstone keeps its key's version rising (seconds): longer than any sync can take
#: between its first read and its write, which is what makes that write safe. A sync runs inside
#: one function invocation (Lambda ends one at 15 minutes, ``outbox.MARK_GRACE``): four times that.
#: Not longer, because readers of the in-flight index read past tombstones (every component whose
#: command ended within it leaves one, and the sweeps read that index every minute)
TOMBSTONE_TTL = 3600.0
#: the document of a tombstone (a listing entry holds ``record``; an index entry its fields)
TOMBSTONE: dict[str, Any] = {"tombstone": True}


def is_tombstone(item: Item) -> bool:
    """Whether ``item`` is the tombstone of an entry no longer called for (see the module)."""
    return item.data.get("tombstone") is True


def live(item: Item | None) -> Item | None:
    """``item``, None when absent or a tombstone."""
    return None if item is None or is_tombstone(item) else item


def tombstone(store: Store, pk: str, sk: str) -> Item:
    """The tombstone of ``pk``/``sk``, expiring :data:`TOMBSTONE_TTL` from now."""
    return Item(pk, sk, dict(TOMBSTONE), expires_at=store.clock.time() + TOMBSTONE_TTL)


def sync(
    store: Store,
    pk: str,
    sk: str,
    want_of: Callable[[], dict[str, Any] | None],
    *,
    mark_absent: bool = True,
) -> bool:
    """Make the derived item ``pk``/``sk`` hold what ``want_of()`` (it reads the record) answers,
    None: no entry (a tombstone; where nothing is, one only with ``mark_absent``). Whether it
    wrote anything."""
    for _ in range(ATTEMPTS):
        current = store.get(pk, sk)
        want = want_of()
        have = live(current)
        settled = want is not None or current is not None or not mark_absent  # None needs no mark
        if (have.data if have else None) == want and settled:
            return False
        item = Item(pk, sk, want) if want is not None else tombstone(store, pk, sk)
        try:
            if current is None:
                store.put(item, if_absent=True)
            else:
                store.put(item, if_version=current.version)
            return True
        except (AlreadyExists, VersionConflict):
            continue  # another writer synced it meanwhile: look again
    return False


def drop(store: Store, entry: Item) -> bool:
    """Turn ``entry`` into a tombstone if it is unchanged since read (a reader that found it
    stale); whether it did."""
    try:
        store.put(tombstone(store, entry.pk, entry.sk), if_version=entry.version)
    except VersionConflict:
        return False
    return True


def live_page(
    store: Store, pk: str, prefix: str = "", *, limit: int, cursor: str | None, reverse: bool = False
) -> Page:
    """A page of up to ``limit`` entries of a derived partition, tombstones skipped (read past
    them, so a page comes up short only at the end); the cursor continues after its last entry."""
    items: list[Item] = []
    while True:
        page = store.query(pk, prefix, limit=limit - len(items), cursor=cursor, reverse=reverse)
        items.extend(i for i in page.items if not is_tombstone(i))
        cursor = page.cursor
        if len(items) >= limit or cursor is None:
            return Page(items, cursor)


def listing(data: dict[str, Any], version: int) -> dict[str, Any]:
    """The listing entry of a record at ``version``."""
    return {"record": data, "record_version": version}


def listed(item: Item) -> tuple[dict[str, Any], int]:
    """The record data and version a listing entry copies."""
    return item.data["record"], int(item.data["record_version"])


class Rider(Protocol):
    """Writes of another partition that ride in the transaction of a change (the audit record of
    the request that makes it: see :func:`riding`). Its writes are conditional on what it read
    (a chain's head), so a transaction may fail because of them alone: :meth:`moved` says so, and
    the transaction is tried again with writes placed anew."""

    def writes(self) -> list[Write]:
        """The writes, placed on what the store holds now."""
        ...

    def moved(self) -> bool:
        """Whether what the last :meth:`writes` were placed on has changed since."""
        ...

    def landed(self, written: Sequence[Item]) -> None:
        """The last :meth:`writes` were committed; ``written``: the items their puts wrote, in order."""
        ...


_rider: ContextVar[Rider | None] = ContextVar("pilothouse_rider", default=None)
R = TypeVar("R", bound=Rider)


@contextmanager
def riding(rider: R) -> Iterator[R]:
    """While inside, the first :func:`commit` of one transaction (a store whose transactions span
    partitions) carries ``rider``'s writes; a commit that cannot (another scope, too many
    operations) leaves it for the next, and none may take it at all (its owner then writes
    them by themselves)."""
    token = _rider.set(rider)
    try:
        yield rider
    finally:
        _rider.reset(token)


def commit(
    store: Store,
    writes: Sequence[Write],
    *,
    marker: Put,
    derived: Sequence[tuple[str, str, dict[str, Any] | None]],
    reconcile: Callable[[], None],
) -> list[Item]:
    """Commit ``writes`` (a transaction of the record's partition) with the partition's dirty
    ``marker`` and the ``derived`` entries: (pk, sk, what the record as written calls for; None:
    none, so a tombstone). One transaction where the store's span partitions (see the module's
    docstring), with the writes of the :class:`Rider` in effect, if any (:func:`riding`);
    otherwise the marker alone first, then ``writes``, then ``reconcile()``, which syncs the
    entries. Answers the items ``writes`` wrote, one per Put, in order."""
    steps: list[Write] = [
        Put(Item(pk, sk, want) if want is not None else tombstone(store, pk, sk)) for pk, sk, want in derived
    ]
    own = len(writes) + len(steps) + 1
    if store.transaction_scope == "store" and own <= MAX_OPERATIONS:
        rider = _rider.get()
        if rider is not None:
            _rider.set(None)  # one transaction carries it
            return _commit_riding(store, [*writes, *steps, marker], rider, len(writes))
        written = store.transact([*writes, *steps, marker])
        return written[: sum(isinstance(w, Put) for w in writes)]
    store.transact([marker])
    written = store.transact(writes)
    reconcile()
    return written


def _commit_riding(store: Store, operations: list[Write], rider: Rider, mine: int) -> list[Item]:
    """``operations`` and ``rider``'s writes in one transaction (when they do not fit, or fail on
    the rider's conditions more than :data:`ATTEMPTS` times, ``operations`` alone: the rider's
    owner then writes its own); the items the first ``mine`` operations wrote."""
    puts = sum(isinstance(w, Put) for w in operations[:mine])
    theirs = sum(isinstance(w, Put) for w in operations)  # the rider's items follow
    for _ in range(ATTEMPTS):
        extra = rider.writes()
        if len(operations) + len(extra) > MAX_OPERATIONS:
            break
        try:
            written = store.transact([*operations, *extra])
        except (AlreadyExists, VersionConflict):
            if rider.moved():  # the rider's conditions failed (maybe the change's too): again
                continue
            raise
        rider.landed(written[theirs:])
        return written[:puts]
    return store.transact(operations)[:puts]
