"""SQLite store: the embedded default. WAL mode, one connection per thread, safe across processes.

Every write runs inside ``BEGIN IMMEDIATE``: the conditions are checked and the rows written while
this connection holds SQLite's single write lock, so two processes can never both win a
conditional write.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from pathlib import Path

from pilothouse.clock import Clock
from pilothouse.errors import StoreError
from pilothouse.store.base import Delete, Item, Put, Store, Write, prefix_end

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    expires_at REAL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_expiry ON items (expires_at) WHERE expires_at IS NOT NULL;
"""


def connect(path: Path) -> sqlite3.Connection:
    """A connection tuned for many short transactions from several threads and processes."""
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class SqliteStore(Store):
    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._conn().executescript(SCHEMA)

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
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"the store is busy: {exc}") from exc
        try:
            written: list[Item] = []
            current: list[Item | None] = []
            for op in operations:
                pk, sk = (op.item.pk, op.item.sk) if isinstance(op, Put) else (op.pk, op.sk)
                found = self._get(pk, sk)
                self.check_condition(op, found, now)
                current.append(found)
            for op, found in zip(operations, current, strict=True):
                if isinstance(op, Put):
                    new = self.next_version(op, found, now)
                    conn.execute(
                        "INSERT OR REPLACE INTO items (pk, sk, version, data, expires_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (
                            new.pk,
                            new.sk,
                            new.version,
                            json.dumps(new.data, separators=(",", ":")),
                            new.expires_at,
                        ),
                    )
                    written.append(new)
                elif isinstance(op, Delete):
                    conn.execute("DELETE FROM items WHERE pk = ? AND sk = ?", (op.pk, op.sk))
            conn.execute("COMMIT")
            return written
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def purge_expired(self) -> int:
        cur = self._conn().execute(
            "DELETE FROM items WHERE expires_at IS NOT NULL AND expires_at <= ?", (self.clock.time(),)
        )
        return cur.rowcount

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._all.clear()
        self._local = threading.local()
