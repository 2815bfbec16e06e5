"""A durable queue on one SQLite file, for local runs (semantics: see :mod:`.base`).

Several threads and several *processes* may share the file. Each thread of each process has its
own connection (WAL mode, ``busy_timeout``); a receive claims its messages inside ``BEGIN
IMMEDIATE``, which takes the database's write lock before reading, so two workers can never both
claim a message while it is invisible. Queue settings and messages persist across restarts.

Long polls sleep until there is work. A send (or a change of visibility, or a move to a
dead-letter queue) from this process wakes the receivers of that queue at once, through a condition
variable per (file, queue) that every :class:`LocalQueue` of the process on that file shares. A
receiver otherwise sleeps until the queue's next message comes due (a delay or a visibility timeout
ending; to the millisecond on the system clock), or at most ``cross_process_poll`` seconds (default
1 s), the slow poll that notices a send from *another* process (which cannot signal us).

On a :class:`~pilothouse.clock.ScaledClock` (``pilothouse dev`` with ``PILOTHOUSE_CLOCK_SCALE``)
delays are clock seconds (a Wait state's minute passes with the clock's) and visibility timeouts
real ones: they bound how long a consumer may take over real work.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pilothouse.clock import Clock, ScaledClock, SystemClock, clock_seconds, real_seconds
from pilothouse.messaging.base import (
    InvalidReceiptHandle,
    Message,
    QueueNotFound,
    QueueSpec,
    check_delay,
    check_message,
    check_receive,
    check_spec,
    check_visibility,
)

#: the slow poll: how often a long poll looks at the file for another process's sends (seconds)
CROSS_PROCESS_POLL = 1.0
#: on a clock other than the system's (a test's manual clock) a due time cannot be turned into a
#: real wait: look this often instead while a message is waiting to come due
_MANUAL_CLOCK_POLL = 0.05
#: never sleep less than this (a wait that rounds down to zero would spin)
_MIN_WAIT = 0.001
_BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY,
    visibility_timeout INTEGER NOT NULL,
    max_receive_count INTEGER,
    dead_letter_queue TEXT
);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    attributes TEXT NOT NULL,
    sent_at REAL NOT NULL,
    visible_at REAL NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_visibility ON messages (queue, visible_at, seq);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_receipt ON messages (receipt);
"""


class _Signal:
    """What the long polls of one queue of one file wait on, in this process.

    ``generation`` counts the changes that may have made a message visible sooner (sends, visibility
    changes, dead-letter moves); ``interrupts`` counts :meth:`LocalQueue.interrupt_receives` calls."""

    __slots__ = ("cond", "generation", "interrupts")

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.generation = 0
        self.interrupts = 0


_signals: dict[tuple[str, str], _Signal] = {}  # by (resolved file, queue name)
_signals_lock = threading.Lock()
#: one writer at a time per file in this process: a thread waiting for another's write is woken
#: the moment it commits, where SQLite's busy handler would sleep 1, 2, 5, 10 ... ms between tries
_write_locks: dict[str, threading.Lock] = {}


def _signal(path: str, queue: str) -> _Signal:
    key = (path, queue)
    signal = _signals.get(key)
    if signal is None:
        with _signals_lock:
            signal = _signals.setdefault(key, _Signal())
    return signal


def _write_lock(path: str) -> threading.Lock:
    lock = _write_locks.get(path)
    if lock is None:
        with _signals_lock:
            lock = _write_locks.setdefault(path, threading.Lock())
    return lock


def _forget_signals_after_fork() -> None:
    """A forked child starts with fresh signals and locks: one another thread held at the fork
    would stay held for ever."""
    global _signals_lock
    _signals.clear()
    _write_locks.clear()
    _signals_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_signals_after_fork)


class LocalQueue:
    """Named queues in the SQLite database at ``path`` (created with its parent directories).

    ``cross_process_poll`` (seconds) bounds how long a long poll sleeps without looking at the file:
    the latency of a message another process sends (this process's sends wake receivers at once)."""

    def __init__(
        self, path: Path | str, clock: Clock | None = None, *, cross_process_poll: float = CROSS_PROCESS_POLL
    ) -> None:
        if not cross_process_poll > 0:
            raise ValueError(f"cross_process_poll must be positive, got {cross_process_poll}")
        self.path = Path(path)
        self._clock = clock or SystemClock()
        self._real_clock = isinstance(self._clock, SystemClock | ScaledClock)
        self.cross_process_poll = cross_process_poll
        self._local = threading.local()
        self._connections: list[tuple[int, sqlite3.Connection]] = []  # (opening pid, connection)
        self._connections_lock = threading.Lock()
        self._declared: set[str] = set()  # queues seen declared (queues are never removed)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._key = str(self.path.resolve())
        conn = self._conn()
        with self._write(conn):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def _wake(self, queue: str) -> None:
        """Tell this process's long polls on ``queue`` to look again now."""
        signal = _signal(self._key, queue)
        with signal.cond:
            signal.generation += 1
            signal.cond.notify_all()

    def interrupt_receives(self, queue: str) -> None:
        """End every long poll on ``queue`` in this process now: each returns what it has (nothing).

        For a worker that is stopping; the next receive waits as usual."""
        signal = _signal(self._key, queue)
        with signal.cond:
            signal.interrupts += 1
            signal.cond.notify_all()

    # -- connections -------------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (a new one after a fork: SQLite connections must not cross it)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        conn = sqlite3.connect(
            self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL: durable across process crashes
        self._local.conn = conn
        self._local.pid = os.getpid()
        with self._connections_lock:
            self._connections.append((os.getpid(), conn))
        return conn

    @contextmanager
    def _write(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database lock from its first statement (and this
        process's write lock of the file around it: see ``_write_locks``)."""
        with _write_lock(self._key):
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close every connection this object opened in this process.

        Connections inherited through a fork are dropped without closing: SQLite forbids using a
        connection (closing included) in a process other than the one that opened it.
        """
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for pid, conn in connections:
            if pid != os.getpid():
                continue
            with contextlib.suppress(sqlite3.Error):  # closing is best effort
                conn.close()
        self._local = threading.local()

    def __enter__(self) -> LocalQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers -----------------------------------------------------------------------------------

    @staticmethod
    def _spec(conn: sqlite3.Connection, queue: str) -> QueueSpec:
        row = conn.execute(
            "SELECT name, visibility_timeout, max_receive_count, dead_letter_queue"
            " FROM queues WHERE name = ?",
            (queue,),
        ).fetchall()
        if not row:
            raise QueueNotFound(queue)
        return QueueSpec(*row[0])

    def _insert(
        self, conn: sqlite3.Connection, queue: str, bodies: list[str], attributes: dict, delay: float
    ) -> list[str]:
        now = self._clock.time()
        ids = [str(uuid.uuid4()) for _ in bodies]
        encoded = json.dumps(attributes, sort_keys=True)
        conn.executemany(
            "INSERT INTO messages (id, queue, body, attributes, sent_at, visible_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(mid, queue, body, encoded, now, now + delay) for mid, body in zip(ids, bodies, strict=True)],
        )
        return ids

    def _claim(
        self, queue: str, max_messages: int, visibility_timeout: int | None
    ) -> tuple[list[Message], float | None]:
        """Claim up to ``max_messages`` visible messages; with none, also say when the queue's next
        message comes due (clock time; None for an empty queue)."""
        conn = self._conn()
        # A cheap read first (one step down the visibility index), so that idle pollers do not queue
        # up for the write lock. fetchall() runs it to completion: no read snapshot is left open.
        [(due,)] = conn.execute("SELECT MIN(visible_at) FROM messages WHERE queue = ?", (queue,)).fetchall()
        if due is None or due > self._clock.time():
            if queue not in self._declared:
                self._spec(conn, queue)
                self._declared.add(queue)
            return [], due
        dead_lettered: set[str] = set()
        with self._write(conn):
            spec = self._spec(conn, queue)
            timeout = spec.visibility_timeout if visibility_timeout is None else visibility_timeout
            dead_letter_queue, max_receives = spec.dead_letter_queue, spec.max_receive_count
            now = self._clock.time()
            claimed: list[Message] = []
            while len(claimed) < max_messages:
                rows = conn.execute(
                    "SELECT seq, id, body, attributes, sent_at, receive_count FROM messages"
                    " WHERE queue = ? AND visible_at <= ? ORDER BY visible_at, seq LIMIT ?",
                    (queue, now, max_messages - len(claimed)),
                ).fetchall()
                if not rows:
                    break
                for seq, message_id, body, attributes, sent_at, receive_count in rows:
                    if (
                        dead_letter_queue is not None
                        and max_receives is not None
                        and receive_count >= max_receives
                    ):
                        self._spec(conn, dead_letter_queue)
                        dead_lettered.add(dead_letter_queue)
                        # Re-inserted so that it gets a new seq, i.e. joins the end of the DLQ.
                        conn.execute("DELETE FROM messages WHERE seq = ?", (seq,))
                        conn.execute(
                            "INSERT INTO messages (id, queue, body, attributes, sent_at, visible_at)"
                            " VALUES (?, ?, ?, ?, ?, ?)",
                            (message_id, dead_letter_queue, body, attributes, sent_at, now),
                        )
                        continue
                    receipt = f"{message_id}.{secrets.token_hex(8)}"
                    conn.execute(
                        "UPDATE messages SET receive_count = ?, receipt = ?, visible_at = ? WHERE seq = ?",
                        (receive_count + 1, receipt, now + clock_seconds(self._clock, timeout), seq),
                    )
                    claimed.append(
                        Message(
                            id=message_id,
                            body=body,
                            receipt_handle=receipt,
                            receive_count=receive_count + 1,
                            sent_at=sent_at,
                            attributes=json.loads(attributes),
                        )
                    )
            if not claimed:  # another receiver was first: when is the next one due?
                [(due,)] = conn.execute(
                    "SELECT MIN(visible_at) FROM messages WHERE queue = ?", (queue,)
                ).fetchall()
        for dead_letter_queue in dead_lettered:
            self._wake(dead_letter_queue)
        return claimed, (None if claimed else due)

    # -- the port ----------------------------------------------------------------------------------

    def url_of(self, queue: str) -> str | None:
        """None: these queues have no URL a state machine could name."""
        return None

    def declare(self, spec: QueueSpec) -> None:
        check_spec(spec)
        conn = self._conn()
        with self._write(conn):
            if spec.dead_letter_queue is not None:
                self._spec(conn, spec.dead_letter_queue)
            conn.execute(
                "INSERT INTO queues (name, visibility_timeout, max_receive_count, dead_letter_queue)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                " visibility_timeout = excluded.visibility_timeout,"
                " max_receive_count = excluded.max_receive_count,"
                " dead_letter_queue = excluded.dead_letter_queue",
                (spec.name, spec.visibility_timeout, spec.max_receive_count, spec.dead_letter_queue),
            )
        self._declared.add(spec.name)

    def send(
        self,
        queue: str,
        body: str,
        *,
        delay_seconds: float = 0,
        attributes: dict[str, str] | None = None,
    ) -> str:
        check_delay(delay_seconds)
        check_message(body, attributes)
        conn = self._conn()
        with self._write(conn):
            self._spec(conn, queue)
            ids = self._insert(conn, queue, [body], attributes or {}, delay_seconds)
        self._wake(queue)
        return ids[0]

    def send_batch(self, queue: str, bodies: list[str], *, delay_seconds: float = 0) -> list[str]:
        check_delay(delay_seconds)
        for body in bodies:
            check_message(body, None)
        conn = self._conn()
        with self._write(conn):
            self._spec(conn, queue)
            ids = self._insert(conn, queue, list(bodies), {}, delay_seconds)
        self._wake(queue)
        return ids

    def receive(
        self,
        queue: str,
        *,
        max_messages: int = 10,
        visibility_timeout: int | None = None,
        wait_seconds: float = 0,
    ) -> list[Message]:
        check_receive(max_messages, visibility_timeout, wait_seconds)
        deadline = time.monotonic() + wait_seconds
        signal = _signal(self._key, queue)
        interrupts = signal.interrupts
        while True:
            seen = signal.generation
            claimed, due = self._claim(queue, max_messages, visibility_timeout)
            remaining = deadline - time.monotonic()
            if claimed or remaining <= 0:
                return claimed
            sleep = min(remaining, self.cross_process_poll)
            if due is not None:
                sleep = min(sleep, self._until(due))
            with signal.cond:
                if signal.interrupts != interrupts:
                    return []
                if signal.generation == seen:
                    signal.cond.wait(max(sleep, _MIN_WAIT))
                if signal.interrupts != interrupts:
                    return []

    def _until(self, due: float) -> float:
        """Real seconds until the clock reads ``due`` (a short poll on a clock other than the system's)."""
        if self._real_clock:
            return real_seconds(self._clock, due - self._clock.time())
        return _MANUAL_CLOCK_POLL

    def delete(self, queue: str, receipt_handle: str) -> None:
        conn = self._conn()
        with self._write(conn):
            self._spec(conn, queue)
            conn.execute("DELETE FROM messages WHERE queue = ? AND receipt = ?", (queue, receipt_handle))

    def change_visibility(self, queue: str, receipt_handle: str, timeout: float) -> None:
        check_visibility(timeout)
        conn = self._conn()
        with self._write(conn):
            self._spec(conn, queue)
            changed = conn.execute(
                "UPDATE messages SET visible_at = ? WHERE queue = ? AND receipt = ?",
                (self._clock.time() + clock_seconds(self._clock, timeout), queue, receipt_handle),
            ).rowcount
            if changed == 0:
                raise InvalidReceiptHandle(
                    f"receipt handle {receipt_handle!r} is not the latest of a message in {queue!r}"
                )
        self._wake(queue)  # it may be visible sooner than a waiting receive planned for

    def depth(self, queue: str) -> dict:
        conn = self._conn()
        self._spec(conn, queue)
        visible, in_flight, delayed = conn.execute(
            "SELECT"
            " COALESCE(SUM(visible_at <= :now), 0),"
            " COALESCE(SUM(visible_at > :now AND receipt IS NOT NULL), 0),"
            " COALESCE(SUM(visible_at > :now AND receipt IS NULL), 0)"
            " FROM messages WHERE queue = :queue",
            {"now": self._clock.time(), "queue": queue},
        ).fetchall()[0]
        return {"visible": visible, "in_flight": in_flight, "delayed": delayed}

    def purge(self, queue: str) -> None:
        conn = self._conn()
        with self._write(conn):
            self._spec(conn, queue)
            conn.execute("DELETE FROM messages WHERE queue = ?", (queue,))
