"""WAL checkpoints of the SQLite store run on a thread of their own (``pilothouse.store.sqlite_wal``)."""

from __future__ import annotations

import multiprocessing
import time

from pilothouse.store import sqlite_wal
from pilothouse.store.base import Item
from pilothouse.store.sqlite import SqliteStore


def _runs(path: str) -> int:
    return sqlite_wal.checkpoints.runs.get(path, 0)


def _wait_for_runs(path: str, at_least: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while _runs(path) < at_least and time.monotonic() < deadline:
        time.sleep(0.01)
    return _runs(path)


def test_every_so_many_commits_the_checkpoint_thread_copies_the_log_back(tmp_path):
    """Given a SQLite store, When this process commits EVERY writes to it, Then the checkpoint thread
    checkpoints the file, copying the whole log back, and every item still reads as written."""
    store = SqliteStore(tmp_path / "state.db")
    key = str((tmp_path / "state.db").resolve())
    before = _runs(key)
    for i in range(sqlite_wal.EVERY):
        store.put(Item("P", f"{i:03d}", {"i": i, "pad": "x" * 2000}))
    assert _wait_for_runs(key, before + 1) >= before + 1
    busy, log, copied = store._conn().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert (busy, copied) == (0, log)
    assert [i.data["i"] for i in store.query("P").items] == list(range(sqlite_wal.EVERY))
    store.close()


def test_fewer_commits_make_no_checkpoint(tmp_path):
    """Given a SQLite store, When fewer than EVERY writes commit, Then no checkpoint is made for it
    (SQLite's own threshold is untouched: a single write never waits for one)."""
    store = SqliteStore(tmp_path / "state.db")
    key = str((tmp_path / "state.db").resolve())
    for i in range(sqlite_wal.EVERY - 2):  # the store's creation wrote nothing through _wrote
        store.put(Item("P", f"{i:03d}", {"i": i}))
    time.sleep(0.05)
    assert _runs(key) == 0
    store.close()


def test_a_checkpoint_of_a_file_that_is_gone_creates_nothing(tmp_path):
    """Given a path whose database was removed, When a checkpoint of it runs, Then no file appears
    (the checkpoint connection opens read-write only) and nothing is raised."""
    path = tmp_path / "gone.db"
    sqlite_wal.checkpoint(str(path))
    assert not path.exists()
    sqlite_wal.checkpoint(str(tmp_path / "no-such-dir" / "gone.db"))
    assert not (tmp_path / "no-such-dir").exists()


def _write_and_report(path: str, count: int, out) -> None:
    store = SqliteStore(path)
    key = str(store.path.resolve())
    for i in range(count):
        store.put(Item("C", f"{i:03d}", {"i": i}))
    out.put(_wait_for_runs(key, 1))
    store.close()


def test_a_forked_child_checkpoints_on_a_thread_of_its_own(tmp_path):
    """Given a parent whose checkpoint thread is running, When a forked child commits EVERY writes,
    Then the child's own thread checkpoints the file (threads do not cross a fork)."""
    parent = SqliteStore(tmp_path / "state.db")
    key = str((tmp_path / "state.db").resolve())
    for i in range(sqlite_wal.EVERY):
        parent.put(Item("P", f"{i:03d}", {"i": i}))
    assert _wait_for_runs(key, 1) >= 1
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_write_and_report, args=(str(tmp_path / "state.db"), sqlite_wal.EVERY, out))
    child.start()
    assert out.get(timeout=30) == 1  # counted afresh in the child, by the child's thread
    child.join(30)
    assert child.exitcode == 0
    assert len(parent.query("C").items) == sqlite_wal.EVERY
    parent.close()
