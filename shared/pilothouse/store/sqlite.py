"""SQLite store: the embedded default. WAL mode, one connection per thread, safe across processes.

Every write runs inside ``BEGIN IMMEDIATE``: the conditions are checked and the rows written while
this connection holds SQLite's single write lock, so two processes can never both win a
conditional write.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

from pilothouse.clock import Clock
from pilothouse.errors import AlreadyExists, StoreError, VersionConflict
from pilothouse.store import sqlite_wal
from pilothouse.store.base import (
    Check,
    Delete,
    EncodedItem,
    Item,
    Put,
    Store,
    Write,
    encode_document,
    prefix_end,
)

#: A rowid table with its primary key as a separate index: the index holds only the short keys
#: (about 80 to a page) and the table's interior pages only rowids, so a write dirties a table leaf
#: at the end of the file and one index leaf per partition. (Files made before keep their WITHOUT
#: ROWID table, which every statement here reads and writes alike: there the interior pages hold
#: whole rows, 3 or 4 documents of about 1 KB to a page, and a register's 7 rows cost a 7-level
#: tree's rebalancing, about a fifth more time per transaction.)
SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    expires_at REAL,
    PRIMARY KEY (pk, sk)
);
CREATE INDEX IF NOT EXISTS items_expiry ON items (expires_at) WHERE expires_at IS NOT NULL;
"""

#: writes a row whatever is stored under its key: updated in place (a rowid table keeps the row
#: where it is and its key index untouched), inserted where there is none
_UPSERT = (
    "INSERT INTO items (pk, sk, version, data, expires_at) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (pk, sk) DO UPDATE SET"
    " version = excluded.version, data = excluded.data, expires_at = excluded.expires_at"
)

#: a document as stored: compact JSON, ASCII-escaped (``json.dumps`` with these separators builds
#: this same encoder on every call)
_json_encoder = json.JSONEncoder(separators=(",", ":"))
_encode_each_time = _json_encoder.encode

#: each thread's C encoder of that same JSON (see :func:`_encode`)
_encoders = threading.local()


def _new_encoder() -> Callable[[Any, int], list[str]]:
    """The C encoder :meth:`json.JSONEncoder.encode` builds on each call for our settings (with
    its own dict of the containers being encoded: the circular-reference check)."""
    make = c_make_encoder
    assert make is not None  # noqa: S101 - only called where the C accelerator exists
    enc = _json_encoder
    return make(
        {}, enc.default, encode_basestring_ascii, None, enc.key_separator, enc.item_separator,
        enc.sort_keys, enc.skipkeys, enc.allow_nan,
    )  # fmt: skip


def _encode_reusing(data: Any) -> str:
    """``_json_encoder.encode(data)``, the same text, with the C encoder it builds on every call
    built once per thread instead (about 1 us a document less; a register writes seven). One that
    raised is dropped: it may still hold the containers it was in (its circular-reference check)."""
    try:
        encoder = _encoders.encoder
    except AttributeError:
        encoder = _encoders.encoder = _new_encoder()
    try:
        return "".join(encoder(data, 0))
    except BaseException:
        del _encoders.encoder
        raise


#: see _encode_reusing (an interpreter without json's C accelerator: the plain encoder)
_encode: Callable[[Any], str] = _encode_reusing if c_make_encoder is not None else _encode_each_time


def _encode_within(data: dict[str, Any], texts: dict[int, str]) -> str:
    """``_encode(data)`` of one document of a transaction, where ``texts`` holds the text of the
    documents encoded before it by their ``id`` (all alive and unchanged meanwhile): a top-level
    value that *is* one of them is spliced in as already encoded, the same text (a component's
    listing entry holds its record, the largest document of a register). Adds ``data``'s own."""
    if texts and type(data) is dict and not texts.keys().isdisjoint(map(id, data.values())):
        text = _splice(data, texts)
    else:
        text = _encode(data)
    texts[id(data)] = text
    return text


def _splice(data: dict[str, Any], texts: dict[int, str]) -> str:
    """``_encode(data)`` built member by member, a value found in ``texts`` (by identity) not
    encoded again: the encoder writes an object as exactly these parts (compact separators,
    keys in order, ASCII-escaped strings). Keys other than strings are left to the encoder."""
    parts = []
    for key, value in data.items():
        if type(key) is not str:
            return _encode(data)
        text = texts.get(id(value))
        parts.append(encode_basestring_ascii(key) + ":" + (_encode(value) if text is None else text))
    return "{" + ",".join(parts) + "}"


#: one writer at a time per database file in this process: a thread waiting for another thread's
#: write is woken the moment it commits, where SQLite's busy handler would sleep 1, 2, 5, 10 ... ms
#: between tries (other processes still meet the busy handler)
_write_locks: dict[str, threading.Lock] = {}
_write_locks_lock = threading.Lock()


def _write_lock(path: Path) -> threading.Lock:
    key = str(path.resolve())
    with _write_locks_lock:
        return _write_locks.setdefault(key, threading.Lock())


#: writes this process has made to each database file (by its resolved path), counted after each
#: commit: half of :meth:`SqliteStore.change_stamp` (SQLite's ``data_version`` does not change for
#: a connection's own commits), and what makes a checkpoint due (:mod:`pilothouse.store.sqlite_wal`)
_generations: dict[str, int] = {}
#: of those, the writes each partition took (a transaction's puts' and deletes' partitions), and
#: the bulk writes that may have written any (a load, a purge), per file: what a partition's stamp
#: counts (:meth:`SqliteStore.change_stamp`)
_partition_generations: dict[str, dict[str, int]] = {}
_bulk_generations: dict[str, int] = {}


def _wrote(key: str, partitions: Iterable[str] | None = None) -> None:
    """Count a write of this process to the file ``key``: to these ``partitions`` (None: to any)."""
    with _write_locks_lock:
        generation = _generations[key] = _generations.get(key, 0) + 1
        if partitions is None:
            _bulk_generations[key] = _bulk_generations.get(key, 0) + 1
        else:
            counts = _partition_generations.setdefault(key, {})
            for pk in partitions:
                counts[pk] = counts.get(pk, 0) + 1
    if generation % sqlite_wal.EVERY == 0:
        sqlite_wal.checkpoints.due(key)


def _forget_write_locks_after_fork() -> None:
    """A forked child starts with fresh locks (one another thread held at the fork stays held)."""
    global _write_locks_lock
    _write_locks.clear()
    _write_locks_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_write_locks_after_fork)


def connect(path: Path) -> sqlite3.Connection:
    """A connection tuned for many short transactions from several threads and processes."""
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


Key = tuple[str, str]


def _key(op: Write) -> Key:
    return (op.item.pk, op.item.sk) if isinstance(op, Put) else (op.pk, op.sk)


def _live(stamp: tuple[int, float | None] | None, now: float) -> int | None:
    """The version of a stored item (see :meth:`SqliteStore._stamps`) unless it is absent or expired."""
    if stamp is None or (stamp[1] is not None and stamp[1] <= now):
        return None
    return stamp[0]


def _check(op: Write, live: int | None) -> None:
    """:meth:`Store.check_condition` of ``op`` against the live item's version (None: none)."""
    if not isinstance(op, Put) or op.if_absent or op.if_version is not None:
        Store.check_version(op, live)


#: one item's stamp; several items' stamps, by their count (an OR of primary-key lookups: SQLite
#: answers it with one index search per key)
_STAMP = "SELECT version, expires_at FROM items WHERE pk = ? AND sk = ?"
_STAMPS: dict[int, str] = {}


def _stamps_sql(count: int) -> str:
    where = " OR ".join(["(pk = ? AND sk = ?)"] * count)
    sql = _STAMPS[count] = f"SELECT pk, sk, version, expires_at FROM items WHERE {where}"  # noqa: S608 - placeholders only
    return sql


class _Pin:
    """A thread's pin of its ``data_version`` (see :meth:`SqliteStore.pinned_stamps`): one object
    per thread, reused; ``depth`` counts the blocks it is inside."""

    __slots__ = ("depth", "local", "version")

    def __init__(self, local: threading.local) -> None:
        self.local = local
        self.depth = 0
        self.version: int | None = None

    def __enter__(self) -> _Pin:
        if self.depth == 0:
            self.version = None
            self.local.pin = self
        self.depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.depth -= 1
        if self.depth == 0:
            self.local.pin = None
            self.version = None


class SqliteStore(Store):
    def __init__(
        self, path: Path, clock: Clock | None = None, *, transaction_scope: str | None = None
    ) -> None:
        super().__init__(clock, transaction_scope=transaction_scope)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._key = str(self.path.resolve())
        self._conn().executescript(SCHEMA)

    def _writing(self) -> threading.Lock:
        """This process's write lock of the database file (see ``_write_locks``)."""
        lock = _write_locks.get(self._key)
        return lock if lock is not None else _write_lock(self.path)

    def change_stamp(self, partition: str | None = None) -> tuple[int, int]:
        """(this process's writes to the file, this thread's connection's ``PRAGMA data_version``);
        with a ``partition``, the writes counted are this process's transactions that wrote it
        (and the bulk writes, which may write any).

        ``data_version`` changes when another connection (another thread's, another process's)
        committed since this connection last asked; this process's own writes, this thread's
        included, are counted in ``_generations`` once committed. One pragma costs less than half
        a point read, and needs no document decoded. So a write to another partition by this
        thread leaves a partition's stamp as it was (a register does not make the next request read
        its API key again); any other connection's commit moves every stamp."""
        # read before the pragma: a write in between is seen
        if partition is None:
            generation = _generations.get(self._key, 0)
        else:
            generation = _bulk_generations.get(self._key, 0) + _partition_generations.get(self._key, {}).get(
                partition, 0
            )
        pin = self._local.__dict__.get("pin")
        if pin is None or pin.version is None:
            version = self._conn().execute("PRAGMA data_version").fetchone()[0]
            if pin is not None:
                pin.version = version
            return generation, version
        return generation, pin.version

    def pinned_stamps(self) -> _Pin:
        """See :meth:`pilothouse.ports.Store.pinned_stamps`: inside, ``PRAGMA data_version`` (half
        of every stamp, 8–9 µs: a read transaction of its own) is asked once; a request that
        checks an API key and the policies takes two stamps."""
        pin = self._local.__dict__.get("pins")
        if pin is None:
            pin = self._local.pins = _Pin(self._local)
        return pin

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @staticmethod
    def _row(row: tuple) -> Item:
        pk, sk, version, data, expires_at = row
        return Item(pk, sk, json.loads(data), version, expires_at)

    def _get(self, pk: str, sk: str) -> Item | None:
        row = (
            self._conn()
            .execute("SELECT pk, sk, version, data, expires_at FROM items WHERE pk = ? AND sk = ?", (pk, sk))
            .fetchone()
        )
        return self._row(row) if row else None

    @staticmethod
    def _stamps(conn: sqlite3.Connection, keys: list[Key]) -> dict[Key, tuple[int, float | None]]:
        """The stored (version, expires_at) of those of these items that are stored, expired or
        not, in one statement: conditions and the next version need no more (decoding a large
        record only to check its version cost most of a write)."""
        if len(keys) == 1:
            row = conn.execute(_STAMP, keys[0]).fetchone()
            return {keys[0]: row} if row else {}
        sql = _STAMPS.get(len(keys)) or _stamps_sql(len(keys))
        return {
            (pk, sk): (version, expires_at)
            for pk, sk, version, expires_at in conn.execute(sql, [part for key in keys for part in key])
        }

    def _query(self, pk: str, prefix: str, *, after: str | None, limit: int, reverse: bool) -> list[Item]:
        lo, hi = prefix, prefix_end(prefix)
        sql = "SELECT pk, sk, version, data, expires_at FROM items WHERE pk = ? AND sk >= ? AND sk < ?"
        args: list = [pk, lo, hi]
        if after is not None:
            sql += " AND sk < ?" if reverse else " AND sk > ?"
            args.append(after)
        sql += " ORDER BY sk DESC" if reverse else " ORDER BY sk"
        sql += " LIMIT ?"
        args.append(limit)
        return [self._row(r) for r in self._conn().execute(sql, args).fetchall()]

    def _transact(self, operations: list[Write], now: float) -> list[Item]:
        keys = [(op.item.pk, op.item.sk) if isinstance(op, Put) else (op.pk, op.sk) for op in operations]
        with self._writing():
            try:
                return self._transact_locked(operations, keys, now)
            finally:  # counted whether it committed or not: a stamp that moves for nothing is harmless
                _wrote(
                    self._key,
                    {key[0] for key, op in zip(keys, operations, strict=True) if not isinstance(op, Check)},
                )

    def _transact_locked(self, operations: list[Write], keys: list[Key], now: float) -> list[Item]:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"the store is busy: {exc}") from exc
        try:
            written = self._apply(conn, operations, keys, now)
            conn.execute("COMMIT")
            return written
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _transact_each(self, transactions: list[list[Write]], now: float) -> list[list[Item] | Exception]:
        """One write lock and one commit for them all: each transaction checks its conditions
        before it writes anything, so a refused one leaves nothing behind, and the others commit.
        Where no key is in two of them (a transaction cannot see another's write then), every
        stamp is read in one statement and every row written in one ``executemany``."""
        if not transactions:
            return []
        keys = [_key(op) for operations in transactions for op in operations]
        together = len(set(keys)) == len(keys)
        with self._writing():
            conn = self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreError(f"the store is busy: {exc}") from exc
            try:
                if together:
                    out = self._apply_each(conn, transactions, keys, now)
                else:
                    out = [self._apply_one(conn, operations, now) for operations in transactions]
                conn.execute("COMMIT")
                return out
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:  # see _transact
                _wrote(self._key, {pk for pk, _ in keys})

    def _apply_one(
        self, conn: sqlite3.Connection, operations: list[Write], now: float
    ) -> list[Item] | Exception:
        try:
            return self._apply(conn, operations, [_key(op) for op in operations], now)
        except (AlreadyExists, VersionConflict) as exc:
            return exc

    def _apply_each(
        self, conn: sqlite3.Connection, transactions: list[list[Write]], keys: list[Key], now: float
    ) -> list[list[Item] | Exception]:
        """:meth:`_apply` of independent transactions with distinct keys: the stamps of all read
        at once, each checked whole, and the rows of those whose conditions hold written at once."""
        stamps: dict[Key, tuple[int, float | None]] = {}
        for at in range(0, len(keys), 400):
            stamps.update(self._stamps(conn, keys[at : at + 400]))
        current = iter(keys)
        out: list[list[Item] | Exception] = []
        rows: list[tuple] = []
        deletes: list[tuple[str, str]] = []
        for operations in transactions:
            lives = [_live(stamps.get(next(current)), now) for _ in operations]
            try:
                for op, live in zip(operations, lives, strict=True):
                    _check(op, live)
            except (AlreadyExists, VersionConflict) as exc:
                out.append(exc)
                continue
            written: list[Item] = []
            for op, live in zip(operations, lives, strict=True):
                if isinstance(op, Put):
                    item = op.item
                    new = Item(item.pk, item.sk, item.data, 1 if live is None else live + 1, item.expires_at)
                    rows.append((new.pk, new.sk, new.version, _encode(new.data), new.expires_at))
                    written.append(new)
                elif isinstance(op, Delete):  # a Check writes nothing
                    deletes.append((op.pk, op.sk))
            out.append(written)
        if deletes:
            conn.executemany("DELETE FROM items WHERE pk = ? AND sk = ?", deletes)
        if rows:
            conn.executemany(_UPSERT, rows)
        return out

    def _apply(
        self, conn: sqlite3.Connection, operations: list[Write], keys: list[Key], now: float
    ) -> list[Item]:
        """Check every condition, then write (inside the caller's transaction): a failed condition
        raises before anything is written. The stamps are read in one statement and the puts'
        rows written with one ``executemany`` (each key appears once in a transaction)."""
        stamps = self._stamps(conn, keys)
        lives = [_live(stamps.get(key), now) for key in keys]
        for op, live in zip(operations, lives, strict=True):
            _check(op, live)
        written: list[Item] = []
        rows: list[tuple] = []
        texts: dict[int, str] = {}  # the documents encoded so far, by identity (see _encode_within)
        for op, live in zip(operations, lives, strict=True):
            if isinstance(op, Put):
                item = op.item  # built field by field: dataclasses.replace costs several times more
                new = Item(item.pk, item.sk, item.data, 1 if live is None else live + 1, item.expires_at)
                rows.append((new.pk, new.sk, new.version, _encode_within(new.data, texts), new.expires_at))
                written.append(new)
            elif isinstance(op, Delete):
                conn.execute("DELETE FROM items WHERE pk = ? AND sk = ?", (op.pk, op.sk))
        if rows:
            conn.executemany(_UPSERT, rows)
        return written

    scan_consistency = (
        "a point-in-time snapshot: one SQLite read transaction over the WAL (writes committed after "
        "it began are not in the copy; none is half in it)"
    )

    def _scan(self, page_size: int) -> Iterator[Item]:
        # A connection of its own: its read transaction (BEGIN, then the first SELECT) pins one WAL
        # snapshot for as long as the scan runs, while writers go on committing past it.
        conn = connect(self.path)
        try:
            conn.execute("BEGIN")
            cursor = conn.execute("SELECT pk, sk, version, data, expires_at FROM items ORDER BY pk, sk")
            while rows := cursor.fetchmany(page_size):
                for row in rows:
                    yield self._row(row)
            conn.execute("COMMIT")
        finally:
            conn.close()

    def _scan_encoded(self, page_size: int) -> Iterator[EncodedItem]:
        # The documents are stored as compact JSON text (``json.dumps``, ASCII-escaped): without a
        # ``\u`` escape that text is already what EncodedItem carries, so it goes out undecoded
        # (most records); with one, it is decoded and encoded again with its characters as themselves.
        conn = connect(self.path)
        try:
            conn.execute("BEGIN")
            cursor = conn.execute("SELECT pk, sk, version, data, expires_at FROM items ORDER BY pk, sk")
            while rows := cursor.fetchmany(page_size):
                for pk, sk, version, data, expires_at in rows:
                    if "\\u" in data:
                        data = encode_document(json.loads(data))
                    yield EncodedItem(pk, sk, version, expires_at, data)
            conn.execute("COMMIT")
        finally:
            conn.close()

    def _load(self, items: list[Item]) -> None:
        self._insert_rows([(i.pk, i.sk, i.version, _encode(i.data), i.expires_at) for i in items])

    def _load_encoded(self, items: list[EncodedItem]) -> None:
        # the text is stored as given (the reader decodes either spelling of a character alike)
        self._insert_rows([(i.pk, i.sk, i.version, i.data, i.expires_at) for i in items])

    def _insert_rows(self, rows: list[tuple]) -> None:
        """One transaction replacing these rows (pk, sk, version, data text, expires_at)."""
        with self._writing():
            conn = self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreError(f"the store is busy: {exc}") from exc
            try:
                conn.executemany(_UPSERT, rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                _wrote(self._key)

    def purge_expired(self) -> int:
        with self._writing():
            try:
                cur = self._conn().execute(
                    "DELETE FROM items WHERE expires_at IS NOT NULL AND expires_at <= ?", (self.clock.time(),)
                )
            finally:
                _wrote(self._key)
        return cur.rowcount

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._all.clear()
        self._local = threading.local()
