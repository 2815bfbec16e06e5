"""The data dir lock and the port check that ``pilothouse dev`` takes before it touches any state."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pilothouse.embedded.datadir_lock import DataDirLock, StartRefused, check_port_free
from pilothouse.embedded.dev import DevServer
from tests.support.controlplane import ROOT

SHARED = ROOT / "shared"

_HOLDER = """
import sys, time
from pathlib import Path
from pilothouse.embedded.datadir_lock import DataDirLock
DataDirLock(Path(sys.argv[1])).acquire()
print("held", flush=True)
time.sleep(60)
"""


def hold_in_another_process(data_dir: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(data_dir)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(SHARED)},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"held"
    return proc


def test_a_second_holder_is_refused_with_the_first_ones_pid_until_it_ends(tmp_path: Path):
    """Given a data dir locked by another process
    When this process tries to take the lock, then again after that process was SIGKILLed
    Then the first try is refused naming the holder's pid, and the second succeeds."""
    holder = hold_in_another_process(tmp_path / "data")
    try:
        with pytest.raises(StartRefused, match=rf"in use by another pilothouse dev \(pid {holder.pid}\)"):
            DataDirLock(tmp_path / "data").acquire()
    finally:
        holder.kill()
        holder.wait()
    lock = DataDirLock(tmp_path / "data")
    lock.acquire()
    try:
        assert lock.held and (tmp_path / "data" / "lock").read_text().strip() == str(os.getpid())
    finally:
        lock.release()


def test_one_process_cannot_hold_one_data_dir_twice(tmp_path: Path):
    """Given the lock held through one handle
    When another handle in the same process asks for it, and again after the first let go
    Then it is refused, then granted (flock is per open file, not per process)."""
    first, second = DataDirLock(tmp_path), DataDirLock(tmp_path)
    first.acquire()
    with pytest.raises(StartRefused):
        second.acquire()
    first.release()
    second.acquire()
    second.release()


def test_a_busy_port_is_refused_and_a_free_one_passes(tmp_path: Path):
    """Given a port something listens on, and one nobody does
    When each is checked
    Then the busy one is refused naming it; the free one and port 0 pass."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(StartRefused, match=f"port {port} on 127.0.0.1 is in use"):
            check_port_free("127.0.0.1", port)
    check_port_free("127.0.0.1", port)  # free again
    check_port_free("127.0.0.1", 0)


def test_an_in_process_dev_server_on_a_locked_data_dir_changes_nothing(env, tmp_path: Path, monkeypatch):
    """Given a data dir another process holds
    When a DevServer starts on it
    Then it raises StartRefused before it creates any state (no store, no queue, no key)."""
    monkeypatch.setenv("PILOTHOUSE_ADMIN_KEY", "ph_0123456789ab_sample-admin-key-for-events-000")
    data = tmp_path / "locked"
    holder = hold_in_another_process(data)
    try:
        with pytest.raises(StartRefused, match=str(holder.pid)):
            DevServer("127.0.0.1", 0, data, ROOT).start()
    finally:
        holder.kill()
        holder.wait()
    assert sorted(p.name for p in data.iterdir()) == ["lock"]
