"""The store port (see :mod:`pilothouse.ports`)."""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from pilothouse.ports.clock import Clock


@dataclass(frozen=True, init=False)
class Item:
    """One stored record. ``expires_at`` (epoch seconds) makes it disappear after that time."""

    pk: str
    sk: str
    data: dict[str, Any]
    version: int = 0
    expires_at: float | None = None

    def __init__(
        self, pk: str, sk: str, data: dict[str, Any], version: int = 0, expires_at: float | None = None
    ) -> None:
        # the fields set in the instance's dict at once: a frozen dataclass's generated __init__
        # sets each through object.__setattr__ (0.78 -> 0.43 us an item; a register builds some
        # twenty); still frozen afterwards, equal, hashed and printed as before
        self.__dict__.update(pk=pk, sk=sk, data=data, version=version, expires_at=expires_at)


@dataclass(frozen=True, init=False)
class Put:
    item: Item
    if_absent: bool = False
    if_version: int | None = None

    def __init__(self, item: Item, if_absent: bool = False, if_version: int | None = None) -> None:
        # see Item.__init__
        self.__dict__.update(item=item, if_absent=if_absent, if_version=if_version)


@dataclass(frozen=True)
class Delete:
    pk: str
    sk: str
    if_version: int | None = None


@dataclass(frozen=True)
class Check:
    """A condition on an item that is not written: it must exist with this version."""

    pk: str
    sk: str
    version: int


#: one write of a transaction (Store.transact)
Write = Put | Delete | Check


@dataclass(frozen=True)
class EncodedItem:
    """An item whose document is still JSON text: what a backup writes and a restore reads, without
    decoding and encoding each document again (``data`` is compact JSON of an object, non-ASCII
    characters as themselves: ``json.dumps(data, separators=(",", ":"), ensure_ascii=False)``)."""

    pk: str
    sk: str
    version: int
    expires_at: float | None
    data: str


def encode_document(data: dict[str, Any]) -> str:
    """A document as :class:`EncodedItem` carries it: compact JSON, non-ASCII characters as themselves."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Page:
    items: list[Item]
    cursor: str | None = None


class Store(Protocol):
    """Versioned items by partition and sort key, with conditional writes (see :mod:`pilothouse.store.base`).

    A failed ``if_absent`` raises ``pilothouse.errors.AlreadyExists``, a failed ``if_version``
    ``pilothouse.errors.VersionConflict``.
    """

    #: the clock that decides expiry (``Item.expires_at``)
    clock: Clock

    #: what :meth:`transact` can commit atomically: ``"partition"`` (every operation of one
    #: transaction has the same ``pk``; Azure Tables, Cosmos DB) or ``"store"`` (any items;
    #: SQLite, DynamoDB, Firestore). A transaction wider than the scope raises
    #: ``pilothouse.errors.TransactionScopeError`` before anything is written; no adapter fakes
    #: atomicity it cannot give. A store can be narrowed to ``"partition"`` (setting
    #: ``store_transaction_scope``; the test suite does, so a regression fails there), never
    #: widened.
    #:
    #: What every store promises, whatever its scope: a transaction of up to 25 operations that all
    #: have one partition key is applied all or nothing, its conditions checked against one state.
    #: Pilothouse's services issue only such transactions (each record's events, outbox entries and
    #: history live in its own partition; listings, indexes and the outbox's dispatch markers are
    #: written before or after the commit and repaired by a sweep: see
    #: ``pilothouse.repositories.derived`` and ``pilothouse.repositories.outbox``). ``"store"`` is
    #: the wider capability of SQLite, DynamoDB and Firestore, kept for restores and tools.
    #:
    #: There is no exception left: webhooks (``WEBHOOK``, ``WEBHOOK#<source>``), systems with their
    #: rollouts (``SYSTEMS``) and config heads with their versions and pending markers
    #: (``CONFIGS``) keep what commits together in one partition too (layout version 3,
    #: ``pilothouse.services.migrations``), and the whole test suite runs at ``"partition"`` scope.
    transaction_scope: str

    def get(self, pk: str, sk: str) -> Item | None: ...

    def change_stamp(self, partition: str | None = None) -> Hashable | None:
        """A cheap token of the store's state as the calling thread sees it: it differs from every
        token this thread got before a write committed since, whoever wrote (this thread, another
        thread, another process). Comparable only with tokens of the same thread and ``partition``.
        With a ``partition``, only the commits that wrote it have to move the token (others may): a
        cache of that partition's items is then not emptied by every write elsewhere. A cache of
        items keyed by it never serves an item older than the newest commit (API keys: a revocation
        takes effect at once). None: the store has nothing cheaper than reading the item
        (DynamoDB...)."""
        ...

    def pinned_stamps(self) -> AbstractContextManager[object]:
        """While inside (one request), this thread's :meth:`change_stamp` may ask the store what
        others committed once, at its first call, and answer the later ones from that: a cache
        read then serves what was current at that first call or newer, as if the request had
        happened at that moment (this thread's own writes still move its stamps). A stamp taken
        inside may thus equal one taken before a commit by someone else; it never equals a stamp
        taken after the block. Nests; a store with nothing to save answers a no-op."""
        ...

    def put(self, item: Item, *, if_absent: bool = False, if_version: int | None = None) -> Item: ...

    def delete(self, pk: str, sk: str, *, if_version: int | None = None) -> None: ...

    def query(
        self, pk: str, prefix: str = "", *, limit: int = 100, cursor: str | None = None, reverse: bool = False
    ) -> Page: ...

    def scan_all(self, pk: str, prefix: str = "", *, page_size: int = 500) -> list[Item]: ...

    def transact(self, operations: Sequence[Write]) -> list[Item]:
        """Apply all operations or none (at most 25, each item once, all in one partition unless
        :attr:`transaction_scope` is ``"store"``); the written items, one per Put, in order."""
        ...

    def transact_each(self, transactions: Sequence[Sequence[Write]]) -> list[list[Item] | Exception]:
        """Apply several independent transactions, each as :meth:`transact` would (all or nothing,
        within its scope), in order: for each, its written items or the ``AlreadyExists`` /
        ``VersionConflict`` that refused it (the others still apply). Any other error raises, and
        then a transaction of the list may or may not have been applied. A store may commit them
        together where that is cheaper (SQLite: one write lock and one commit)."""
        ...

    #: what a :meth:`scan` promises about concurrent writes (backup manifests record it)
    scan_consistency: str

    def scan(self, *, page_size: int = 500) -> Iterator[Item]:
        """Every live item of every partition, streamed (backups). Close the iterator (or exhaust
        it) to release what it holds (SQLite: its read transaction)."""
        ...

    def load(self, items: Sequence[Item]) -> None:
        """Write ``items`` exactly as given, versions included, replacing what is there under their
        keys, unconditionally (restore). Not atomic across items; re-running it is harmless."""
        ...

    def scan_encoded(self, *, page_size: int = 500) -> Iterator[EncodedItem]:
        """:meth:`scan` with each document as JSON text (see :class:`EncodedItem`): the same items,
        the same promise; a store keeping documents as JSON text hands them over as they are."""
        ...

    def load_encoded(self, items: Sequence[EncodedItem]) -> None:
        """:meth:`load` of documents given as JSON text (each must be a JSON object: a restore's
        chunks are authenticated before this is called); one bulk write per call where the store
        has one (SQLite: one transaction)."""
        ...

    def purge_expired(self) -> int: ...

    def close(self) -> None: ...


class ExportedItems(Protocol):
    """The items of a store's native point-in-time export (:class:`PointInTimeExport`)."""

    #: what the copy is (backup manifests record it)
    consistency: str

    def __iter__(self) -> Iterator[EncodedItem]: ...

    def close(self) -> None:
        """Remove what the export left (its files)."""
        ...


@runtime_checkable
class PointInTimeExport(Protocol):
    """A store with a native point-in-time export to object storage (DynamoDB's
    ``ExportTableToPointInTime``): a backup may read that instead of a scan."""

    def export_point_in_time(
        self, *, bucket: str, prefix: str, kms_key_id: str | None, token: str
    ) -> ExportedItems: ...
