"""Who a replica process is: its pid *and* an identity token, the process's creation time as
psutil reports it (``psutil.Process(pid).create_time()``), so that a recycled pid is never taken for
a replica across control-plane restarts. Tokens written by earlier releases (a ``/proc`` start time
in clock ticks, or ``ps -o lstart``) are still recognised: see :func:`same_process`.

The creation time is wall-clock based: should the system clock be *stepped* between a replica's
start and a later control plane's look at it, the replica is no longer recognised and is treated
as not ours (never signalled through this identity; the journal's tag still finds it).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil

#: the prefix of an identity token of this release: ``psutil:<creation time, seconds since the epoch>``
_PREFIX = "psutil:"
#: creation times closer than this are the same (Linux counts in clock ticks of 10 ms; macOS in µs)
_SAME_START = 1e-3


def _create_time(proc: psutil.Process) -> float | None:
    try:
        return proc.create_time()
    except psutil.Error:
        return None


def identity_of(proc: psutil.Process) -> str | None:
    """The identity token of ``proc`` (None if it is gone)."""
    created = _create_time(proc)
    return None if created is None else f"{_PREFIX}{created:.6f}"


def process_identity(pid: int) -> str | None:
    """A token that changes if ``pid`` is reused by another process; None if there is no such pid."""
    if pid <= 0:
        return None
    try:
        return identity_of(psutil.Process(pid))
    except psutil.Error:
        return None


def process_start_time(pid: int) -> float | None:
    """When ``pid`` was created (seconds since the epoch); None if there is no such pid."""
    if pid <= 0:
        return None
    try:
        return _create_time(psutil.Process(pid))
    except psutil.Error:
        return None


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.AccessDenied:
        return True  # it exists; we may not read its state
    except psutil.Error:  # NoSuchProcess, ZombieProcess
        return False


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    if pid <= 0:
        return False
    try:
        return _alive(psutil.Process(pid))
    except psutil.AccessDenied:
        return True
    except psutil.Error:
        return False


def same_process(pid: int, identity: object) -> bool:
    """True if ``pid`` is alive (not a zombie) and is the process whose token is ``identity``.

    Tokens of earlier releases match as they did then: ``<boot id>:<start time in clock ticks
    since boot>`` (Linux) by the same boot and tick, ``ps:<lstart>`` by the same second. A token
    this release cannot read never matches (the process is treated as not ours)."""
    if not isinstance(identity, str) or pid <= 0:
        return False
    try:
        proc = psutil.Process(pid)
    except psutil.Error:
        return False
    if not _alive(proc):
        return False
    created = _create_time(proc)
    if created is None:
        return False
    if identity.startswith(_PREFIX):
        try:
            recorded = float(identity[len(_PREFIX) :])
        except ValueError:
            return False
        return abs(recorded - created) < _SAME_START
    if identity.startswith("ps:"):
        return identity[3:].split() == time.ctime(int(created)).split()
    return _legacy_proc_token(created) == identity


def _legacy_proc_token(created: float) -> str | None:
    """The token an earlier release wrote on Linux for a process created at ``created``:
    ``<boot id>:<clock ticks from boot to its start>`` (None where there are no clock ticks)."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        return None
    return f"{_boot_id()}:{round((created - psutil.boot_time()) * ticks)}"


def _boot_id() -> str:
    """This boot's id (Linux), part of the tokens earlier releases wrote."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""
