"""In-memory store for unit tests: the same semantics as every other adapter, no persistence."""

from __future__ import annotations

import bisect
import copy
import threading
from collections.abc import Iterator

from pilothouse.clock import Clock
from pilothouse.store.base import Delete, Item, Put, Store, Write, prefix_end


class MemoryStore(Store):
    """``transaction_scope="partition"`` makes it refuse what Azure Tables refuses (tests)."""

    def __init__(self, clock: Clock | None = None, *, transaction_scope: str | None = None) -> None:
        super().__init__(clock, transaction_scope=transaction_scope)
        self._lock = threading.Lock()
        self._items: dict[str, dict[str, Item]] = {}
        self._keys: dict[str, list[str]] = {}
        self._writes = 0  # see change_stamp

    def change_stamp(self, partition: str | None = None) -> int:
        """How many writes this store has taken (one store, one process: a counter is enough; it
        moves for every partition)."""
        return self._writes

    def _get(self, pk: str, sk: str) -> Item | None:
        with self._lock:
            item = self._items.get(pk, {}).get(sk)
            return copy.deepcopy(item)

    def _query(self, pk: str, prefix: str, *, after: str | None, limit: int, reverse: bool) -> list[Item]:
        with self._lock:
            keys = self._keys.get(pk, [])
            lo = bisect.bisect_left(keys, prefix)
            hi = bisect.bisect_left(keys, prefix_end(prefix))
            if after is not None:
                if reverse:
                    hi = min(hi, bisect.bisect_left(keys, after))
                else:
                    lo = max(lo, bisect.bisect_right(keys, after))
            selected = keys[lo:hi]
            if reverse:
                selected = selected[::-1]
            return [copy.deepcopy(self._items[pk][k]) for k in selected[:limit]]

    def _transact(self, operations: list[Write], now: float) -> list[Item]:
        with self._lock:
            self._writes += 1
            for op in operations:
                pk, sk = (op.item.pk, op.item.sk) if isinstance(op, Put) else (op.pk, op.sk)
                self.check_condition(op, self._items.get(pk, {}).get(sk), now)
            written: list[Item] = []
            for op in operations:
                if isinstance(op, Put):
                    new = self.next_version(op, self._items.get(op.item.pk, {}).get(op.item.sk), now)
                    new = Item(new.pk, new.sk, copy.deepcopy(new.data), new.version, new.expires_at)
                    partition = self._items.setdefault(new.pk, {})
                    if new.sk not in partition:
                        bisect.insort(self._keys.setdefault(new.pk, []), new.sk)
                    partition[new.sk] = new
                    written.append(copy.deepcopy(new))
                elif isinstance(op, Delete):
                    partition = self._items.get(op.pk, {})
                    if partition.pop(op.sk, None) is not None:
                        self._keys[op.pk].remove(op.sk)
            return written

    scan_consistency = "a snapshot: the whole store copied under its lock"

    def _scan(self, page_size: int) -> Iterator[Item]:
        with self._lock:
            snapshot = [
                copy.deepcopy(self._items[pk][sk]) for pk in sorted(self._keys) for sk in self._keys[pk]
            ]
        yield from snapshot

    def _load(self, items: list[Item]) -> None:
        with self._lock:
            self._writes += 1
            for item in items:
                partition = self._items.setdefault(item.pk, {})
                if item.sk not in partition:
                    bisect.insort(self._keys.setdefault(item.pk, []), item.sk)
                partition[item.sk] = copy.deepcopy(item)

    def purge_expired(self) -> int:
        now = self.clock.time()
        with self._lock:
            self._writes += 1
            doomed = [
                (pk, sk)
                for pk, part in self._items.items()
                for sk, item in part.items()
                if item.expires_at is not None and item.expires_at <= now
            ]
            for pk, sk in doomed:
                del self._items[pk][sk]
                self._keys[pk].remove(sk)
            return len(doomed)
