"""The storage port's rules (DESIGN §7) and the base class every store adapter extends.

The interface and its value types live in :mod:`pilothouse.ports`.

Records are :class:`Item` s addressed by a partition key and a sort key, carrying a JSON document
and a version number that the store maintains: a write creates version 1 or increments the
current one. Conditions make optimistic concurrency possible:

- ``put(item, if_absent=True)`` fails with :class:`~pilothouse.errors.AlreadyExists` if the key exists;
- ``put(item, if_version=3)`` fails with :class:`~pilothouse.errors.VersionConflict` unless the
  stored version is 3 (and writes version 4);
- ``transact([...])`` applies several puts/deletes/checks all or nothing: inside one partition
  on every store; across partitions only where ``transaction_scope`` is ``"store"`` (see
  :attr:`pilothouse.ports.Store.transaction_scope`).

Adapters implement only ``_get``, ``_query`` and ``_transact`` (the shape of Powertools'
persistence layers); keys, cursors, expiry and conditions are checked here once.
"""

from __future__ import annotations

import base64
import json
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext

from pilothouse.clock import SystemClock
from pilothouse.errors import AlreadyExists, BadRequest, VersionConflict
from pilothouse.ports import Check, Clock, Delete, EncodedItem, Item, Page, Put, Write
from pilothouse.ports.store import encode_document

#: the pin of a store with nothing to save (nullcontext is reentrant and keeps no state)
_NO_PIN: AbstractContextManager[object] = nullcontext()

# The value types are the port's (pilothouse.ports); they stay importable from here for the adapters.
__all__ = ["Check", "Delete", "EncodedItem", "Item", "Page", "Put", "Store", "Write", "encode_document"]

MAX_TRANSACTION_ITEMS = 25  # DynamoDB's transaction limit is 100; we stay well below it everywhere.
MAX_PAGE = 1000


#: cursors we hand out are a partition and a sort key; anything much longer is not one of ours
MAX_CURSOR_CHARS = 4096


def encode_cursor(pk: str, sk: str) -> str:
    raw = json.dumps([pk, sk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(pk: str, cursor: str) -> str:
    """The sort key a cursor points after; a cursor from another partition is refused."""
    from pilothouse.jsonbounds import loads

    if len(cursor) > MAX_CURSOR_CHARS:
        raise BadRequest("the cursor is not valid", extra={"field": "cursor"})
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        cpk, csk = loads(base64.urlsafe_b64decode(padded.encode()), limit=2)
    except (ValueError, TypeError) as exc:
        raise BadRequest("the cursor is not valid", extra={"field": "cursor"}) from exc
    if cpk != pk or not isinstance(csk, str):
        raise BadRequest("the cursor belongs to another listing", extra={"field": "cursor"})
    return csk


def prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix + "\U0010ffff"


class Store(ABC):
    """Base class of the storage adapters (it implements :class:`pilothouse.ports.Store`)."""

    #: see :attr:`pilothouse.ports.Store.transaction_scope`; adapters that commit only inside one
    #: partition say ``"partition"``
    transaction_scope = "store"

    def __init__(self, clock: Clock | None = None, *, transaction_scope: str | None = None) -> None:
        self.clock = clock or SystemClock()
        if transaction_scope is not None:
            if transaction_scope not in ("partition", "store"):
                raise ValueError(f"transaction_scope is 'partition' or 'store', not {transaction_scope!r}")
            if transaction_scope == "store" and type(self).transaction_scope == "partition":
                raise ValueError(f"{type(self).__name__} commits a transaction inside one partition only")
            # narrowing is always honest (a store that can do more refuses more); widening never is
            self.transaction_scope = transaction_scope

    # -- public API --------------------------------------------------------------------------

    def change_stamp(self, partition: str | None = None) -> Hashable | None:
        """A cheap token of what this thread can see of the store, for caches that must never serve
        a stale item: a token differs from every token this thread got before any write (from this
        thread, another thread or another process) committed since. None: the store cannot tell
        more cheaply than a read (callers then read). See :meth:`pilothouse.ports.Store.change_stamp`."""
        return None

    def pinned_stamps(self) -> AbstractContextManager[object]:
        """See :meth:`pilothouse.ports.Store.pinned_stamps` (here: nothing to save)."""
        return _NO_PIN

    def get(self, pk: str, sk: str) -> Item | None:
        """The item, or None if absent or expired."""
        item = self._get(pk, sk)
        return None if item is None or self._expired(item) else item

    def put(self, item: Item, *, if_absent: bool = False, if_version: int | None = None) -> Item:
        """Write ``item``; return it with its new version."""
        return self.transact([Put(item, if_absent=if_absent, if_version=if_version)])[0]

    def delete(self, pk: str, sk: str, *, if_version: int | None = None) -> None:
        """Remove an item (absent is fine unless ``if_version`` is given)."""
        self.transact([Delete(pk, sk, if_version=if_version)])

    def query(
        self,
        pk: str,
        prefix: str = "",
        *,
        limit: int = 100,
        cursor: str | None = None,
        reverse: bool = False,
    ) -> Page:
        """Items of partition ``pk`` whose sort key starts with ``prefix``, in sort-key order.

        ``cursor`` (from a previous page) continues after the last item of that page; a page with
        ``cursor=None`` is the last one.
        """
        limit = max(1, min(limit, MAX_PAGE))
        after = decode_cursor(pk, cursor) if cursor else None
        items: list[Item] = []
        while len(items) <= limit:  # expired items are skipped, so a fetch may come up short
            raw = self._query(pk, prefix, after=after, limit=limit + 1, reverse=reverse)
            items.extend(i for i in raw if not self._expired(i))
            if len(raw) <= limit:
                break
            after = raw[-1].sk
        page, rest = items[:limit], items[limit:]
        return Page(page, encode_cursor(pk, page[-1].sk) if rest and page else None)

    def scan_all(self, pk: str, prefix: str = "", *, page_size: int = 500) -> list[Item]:
        """Every item of a partition (for small partitions and maintenance jobs)."""
        out: list[Item] = []
        cursor = None
        while True:
            page = self.query(pk, prefix, limit=page_size, cursor=cursor)
            out.extend(page.items)
            if not page.cursor:
                return out
            cursor = page.cursor

    def transact(self, operations: Sequence[Write]) -> list[Item]:
        """Apply all operations or none; return the written items (for each Put, in order)."""
        if not operations:
            return []
        self._check_transaction(operations)
        return self._transact(list(operations), self.clock.time())

    def _check_transaction(self, operations: Sequence[Write]) -> None:
        """BadRequest or TransactionScopeError when ``operations`` are not one transaction here."""
        if len(operations) > MAX_TRANSACTION_ITEMS:
            raise BadRequest(f"a transaction takes at most {MAX_TRANSACTION_ITEMS} items")
        keys = [(op.item.pk, op.item.sk) if isinstance(op, Put) else (op.pk, op.sk) for op in operations]
        if len(set(keys)) != len(keys):
            raise BadRequest("a transaction may touch each item only once")
        if self.transaction_scope == "partition" and len({pk for pk, _ in keys}) > 1:
            from pilothouse.errors import TransactionScopeError

            partitions = sorted({pk for pk, _ in keys})
            raise TransactionScopeError(
                f"this store commits a transaction inside one partition; got {partitions}"
            )

    def transact_each(self, transactions: Sequence[Sequence[Write]]) -> list[list[Item] | Exception]:
        """Independent transactions, each all or nothing (see :meth:`pilothouse.ports.Store.transact_each`);
        adapters that can commit several at once override :meth:`_transact_each`."""
        for operations in transactions:
            self._check_transaction(operations)
        return self._transact_each([list(ops) for ops in transactions if ops], self.clock.time())

    def _transact_each(self, transactions: list[list[Write]], now: float) -> list[list[Item] | Exception]:
        out: list[list[Item] | Exception] = []
        for operations in transactions:
            try:
                out.append(self._transact(operations, now))
            except (AlreadyExists, VersionConflict) as exc:
                out.append(exc)
        return out

    def purge_expired(self) -> int:
        """Physically remove expired items; return how many. Adapters with native TTL may no-op."""
        return 0

    #: what :meth:`scan` promises (each adapter says; recorded in backup manifests)
    scan_consistency = "a snapshot of the whole store"

    def scan(self, *, page_size: int = 500) -> Iterator[Item]:
        """Every live item of every partition, streamed in pages of ``page_size`` (backups)."""
        page_size = max(1, min(page_size, 10_000))
        for item in self._scan(page_size):
            if not self._expired(item):
                yield item

    def load(self, items: Sequence[Item]) -> None:
        """Write ``items`` as given (versions included), replacing; re-running is harmless (restore)."""
        for item in items:
            if item.version < 1:
                raise BadRequest(f"{item.pk}/{item.sk}: a loaded item needs a version >= 1")
        if items:
            self._load(list(items))

    def scan_encoded(self, *, page_size: int = 500) -> Iterator[EncodedItem]:
        """:meth:`scan` with documents as JSON text; adapters that keep JSON text override
        :meth:`_scan_encoded` and skip the decoding."""
        page_size = max(1, min(page_size, 10_000))
        now = self.clock.time()
        for item in self._scan_encoded(page_size):
            if item.expires_at is None or item.expires_at > now:
                yield item

    def load_encoded(self, items: Sequence[EncodedItem]) -> None:
        """:meth:`load` of documents given as JSON text (see the port)."""
        for item in items:
            if item.version < 1:
                raise BadRequest(f"{item.pk}/{item.sk}: a loaded item needs a version >= 1")
        if items:
            self._load_encoded(list(items))

    def close(self) -> None:  # noqa: B027 - optional hook: adapters without connections keep this no-op
        """Release connections."""

    # -- adapter hooks ---------------------------------------------------------------------------

    @abstractmethod
    def _get(self, pk: str, sk: str) -> Item | None:
        """The stored item, expired or not (the base class filters expiry)."""

    @abstractmethod
    def _query(self, pk: str, prefix: str, *, after: str | None, limit: int, reverse: bool) -> list[Item]:
        """Up to ``limit`` items of ``pk`` with the prefix, after ``after``, in (reverse) key order."""

    @abstractmethod
    def _transact(self, operations: list[Write], now: float) -> list[Item]:
        """Check every condition, then apply all operations atomically; the written items."""

    @abstractmethod
    def _scan(self, page_size: int) -> Iterator[Item]:
        """Every stored item, expired or not, of every partition (see :attr:`scan_consistency`)."""

    @abstractmethod
    def _load(self, items: list[Item]) -> None:
        """Write these items as they are, unconditionally."""

    def _scan_encoded(self, page_size: int) -> Iterator[EncodedItem]:
        """Every stored item with its document encoded (the default decodes nothing it need not:
        it encodes what :meth:`_scan` gives)."""
        for item in self._scan(page_size):
            yield EncodedItem(item.pk, item.sk, item.version, item.expires_at, encode_document(item.data))

    def _load_encoded(self, items: list[EncodedItem]) -> None:
        """Write these items as they are (the default decodes each document and calls :meth:`_load`)."""
        self._load([Item(i.pk, i.sk, json.loads(i.data), i.version, i.expires_at) for i in items])

    # -- helpers for adapters --------------------------------------------------------------------

    def _expired(self, item: Item) -> bool:
        return item.expires_at is not None and item.expires_at <= self.clock.time()

    @staticmethod
    def check_condition(op: Write, current: Item | None, now: float) -> None:
        """Raise the right Conflict if ``op``'s condition fails against ``current``."""
        if isinstance(op, Put) and not op.if_absent and op.if_version is None:
            return  # an unconditional put holds whatever is stored
        live = (
            current.version
            if current is not None and not (current.expires_at is not None and current.expires_at <= now)
            else None
        )
        Store.check_version(op, live)

    @staticmethod
    def check_version(op: Write, live: int | None) -> None:
        """:meth:`check_condition` given the stored version of the live item (None: absent or
        expired): for adapters that read the version without building an :class:`Item`."""
        if isinstance(op, Put):
            if op.if_absent and live is not None:
                raise AlreadyExists(f"{op.item.pk}/{op.item.sk} already exists")
            if op.if_version is not None and live != op.if_version:
                found = "absent" if live is None else f"version {live}"
                raise VersionConflict(
                    f"{op.item.pk}/{op.item.sk} changed: expected version {op.if_version}, found {found}"
                )
        elif isinstance(op, Delete):
            if op.if_version is not None and live != op.if_version:
                found = "absent" if live is None else f"version {live}"
                raise VersionConflict(
                    f"{op.pk}/{op.sk} changed: expected version {op.if_version}, found {found}"
                )
        elif live != op.version:
            found = "absent" if live is None else f"version {live}"
            raise VersionConflict(f"{op.pk}/{op.sk} changed: expected version {op.version}, found {found}")

    @staticmethod
    def next_version(op: Put, current: Item | None, now: float) -> Item:
        item = op.item  # built field by field: dataclasses.replace costs several times more
        if current is None or (current.expires_at is not None and current.expires_at <= now):
            return Item(item.pk, item.sk, item.data, 1, item.expires_at)
        return Item(item.pk, item.sk, item.data, current.version + 1, item.expires_at)
