"""Finding and killing the processes a test started, by a marker in their environment.

Replicas and dev servers run in sessions of their own, so killing a parent does not reach them;
each test puts ``<VAR>=<marker>`` in the environment they inherit and kills what carries it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path


def marked_pids(var: str, marker: str) -> list[int]:
    """Pids of live (not zombie) processes other than this one whose environment has ``var=marker``."""
    needle = f"{var}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def kill_marked(var: str, marker: str) -> list[int]:
    """SIGKILL every marked process and its process group; the pids that were found."""
    pids = marked_pids(var, marker)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return pids


def replica_pids(data_dir: Path) -> dict[int, str]:
    """Live replicas a local provider on ``data_dir`` started (tagged ``PILOTHOUSE_REPLICA=<the
    data dir's tag>:<replica id>``, whatever environment their spec gave them): pid -> replica id."""
    from pilothouse.providers.local.journal import data_dir_tag

    prefix = f"PILOTHOUSE_REPLICA={data_dir_tag(data_dir)}:".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        for var in environ.split(b"\0"):
            if var.startswith(prefix):
                found[int(entry.name)] = var[len(prefix) :].decode()
    return found


def kill_replicas(data_dir: Path) -> list[int]:
    """SIGKILL every live replica of ``data_dir`` (and its process group); the pids that were found."""
    pids = list(replica_pids(data_dir))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return pids


def end_process(process: subprocess.Popen | None, *, grace: float = 10.0) -> None:
    """Stop a test server's process: SIGTERM, then SIGKILL if it has not exited within ``grace``
    seconds; a process that already exited (or None) is left as it is."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)


#: stops of servers shared by a whole test session (the conftest's pytest_sessionfinish runs them)
_SESSION_STOPS: list[Callable[[], None]] = []


def stop_at_session_end(stop: Callable[[], None]) -> None:
    """Run ``stop`` when the test session ends. Not ``atexit``: pytest-xdist's workers leave without
    running atexit handlers, which left session servers (moto) running after CI."""
    _SESSION_STOPS.append(stop)


def stop_session_servers() -> None:
    """Stop every server registered with :func:`stop_at_session_end`, newest first."""
    while _SESSION_STOPS:
        _SESSION_STOPS.pop()()
