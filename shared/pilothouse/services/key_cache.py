"""API-key records cached per thread, never staler than the store (what authentication reads).

    known = lookup(store, "3f9a0c1d2e4b", ApiKeyRepository(store).get)

Each request used to read its key's record from the store. A record is now kept per thread and per
store with the store's :meth:`~pilothouse.ports.Store.change_stamp` taken *before* it was read; it
is served again only while the store answers the same stamp of the keys' partition, i.e. while
nothing was committed to that partition since (by this process or any other; SQLite: by this
process, or anything at all by any other connection). So a revocation, a demotion or a
deletion takes effect at the very next request, as it did without a cache; what is saved is the
read and the decoding of the record (SQLite: one ``PRAGMA data_version`` instead of a point read).
A record read again because something else was written (on a busy store, most requests) and found
equal to the one kept keeps the principal made from it.
A store without a cheap stamp (DynamoDB, Azure Tables, Firestore answer None) is read every time.

Per thread because a stamp is only comparable with the stamps of the same thread (SQLite: each
thread has its own connection, whose ``data_version`` is its own). Only records that exist are
kept, at most ``MAX_KEYS`` per store and thread: ids of keys that do not exist cost a read each time.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pilothouse.ports import Item, Store

if TYPE_CHECKING:
    from pilothouse.domain.security import Principal

#: records kept per store and thread (more distinct keys in use than this: the cache starts over)
MAX_KEYS = 256


@dataclass
class Known:
    """A key's record as read under ``stamp``, and the principal made from it (once, lazily)."""

    stamp: Hashable
    data: dict[str, Any]
    principal: Principal | None = None


class _Local(threading.local):
    def __init__(self) -> None:
        # the store as a weak key: a store that is gone takes its records with it (a new store at
        # the same address never finds them)
        self.stores: weakref.WeakKeyDictionary[Store, dict[str, Known]] = weakref.WeakKeyDictionary()


_local = _Local()


def lookup(
    store: Store, key_id: str, read: Callable[[str], Item | None], partition: str | None = None
) -> Known | None:
    """The record of key ``key_id`` (None: no such key), from this thread's cache while the
    store's stamp (of the keys' ``partition``, when given) is unchanged, else from ``read`` (then
    cached under the stamp taken before it)."""
    stamp = store.change_stamp(partition)
    if stamp is None:
        item = read(key_id)
        return Known(None, item.data) if item is not None else None
    try:
        records = _local.stores.get(store)
    except TypeError:  # a store that cannot be weakly referenced: no cache
        item = read(key_id)
        return Known(None, item.data) if item is not None else None
    if records is None:
        records = _local.stores[store] = {}
    known = records.get(key_id)
    if known is not None and known.stamp == stamp:
        return known
    item = read(key_id)
    if item is None:
        records.pop(key_id, None)
        return None
    if known is not None and known.data == item.data:  # read again, unchanged: keep its principal
        known.stamp = stamp
        return known
    if len(records) >= MAX_KEYS:
        records.clear()
    known = records[key_id] = Known(stamp, item.data)
    return known


def forget() -> None:
    """Drop this thread's cached records (tests)."""
    _local.stores.clear()
