"""WAL checkpoints of the SQLite store, run off the request path.

In WAL mode a commit appends pages to the ``-wal`` file; a *checkpoint* copies them back into the
database and syncs both files (``synchronous=NORMAL``: the only syncs there are). SQLite runs one
itself inside the commit that takes the log past 1,000 pages (``wal_autocheckpoint``): every hundred
or so writes, one request then waited several milliseconds for the copy and two ``fsync`` (most of a
write's p99, and about a third of its mean).

Here one daemon thread per process runs a passive checkpoint of a file after every
:data:`EVERY` commits this process made to it, on a connection of its own: a passive checkpoint
waits for no reader or writer (SQLite releases the GIL while it copies and syncs), and once it has
copied the whole log the next writer starts the log again from its beginning, so the request path
never reaches SQLite's own threshold. That threshold stays as it was: if this thread falls behind
(a long backup scan holds the log, another process writes without one), commits checkpoint exactly
as before. Nothing is synced less often than before, or later.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path

#: commits of this process to one file between two checkpoints of it (a register's transaction
#: adds about 10 pages to the log: some 320 pages a checkpoint, well below SQLite's 1,000)
EVERY = 32


class Checkpoints:
    """The checkpoint thread of this process: :meth:`due` marks a file, the thread checkpoints it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._due: set[str] = set()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        #: checkpoints run per file (resolved path), for tests and diagnostics
        self.runs: dict[str, int] = {}

    def due(self, path: str) -> None:
        """Checkpoint the database at ``path`` (a resolved path) soon, on the checkpoint thread."""
        with self._lock:
            self._due.add(path)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()  # a file marked from here on wakes the next round
            with self._lock:
                due, self._due = self._due, set()
            for path in sorted(due):
                checkpoint(path)
                with self._lock:
                    self.runs[path] = self.runs.get(path, 0) + 1


def checkpoint(path: str) -> None:
    """A passive checkpoint of the database at ``path``, on a connection of its own. A file that is
    gone is left gone (the connection opens read-write only, never creating one); a busy file or
    any other SQLite error leaves the log to the next checkpoint, SQLite's own included."""
    try:
        conn = sqlite3.connect(Path(path).as_uri() + "?mode=rw", uri=True, timeout=0, isolation_level=None)
    except sqlite3.Error:
        return
    try:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        conn.close()


#: this process's checkpoint thread (started on the first file due)
checkpoints = Checkpoints()


def _fresh_after_fork() -> None:
    """A forked child has no checkpoint thread (threads do not cross a fork): it starts its own."""
    global checkpoints
    checkpoints = Checkpoints()


os.register_at_fork(after_in_child=_fresh_after_fork)
