"""One control plane per data dir, and only on a free port: what ``pilothouse dev`` checks before it
touches any state.

:class:`DataDirLock` is an exclusive ``fcntl.flock`` on ``<data-dir>/lock`` held for the life of
the process (the kernel drops it when the process ends, however it ends); the file names the
holder's pid so a refused start can say who holds it. :func:`check_port_free` binds the address the
gateway will listen on, the way the gateway does, and lets go at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

__all__ = ["DataDirLock", "StartRefused", "check_port_free"]


class StartRefused(Exception):
    """The control plane cannot start here; nothing was changed."""


class DataDirLock:
    """An exclusive lock on a data dir (see the module docstring)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`StartRefused` naming the pid that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(fd)
            os.close(fd)
            who = f"pid {holder}" if holder else "another process"
            raise StartRefused(
                f"the data dir {self.path.parent} is in use by another pilothouse dev ({who}); "
                "stop it first, or choose another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None


def _holder(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(fd, 32, 0).decode().strip()
        return int(text) if text else None
    return None


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`StartRefused` if ``host:port`` cannot be listened on (port 0: any port will do)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no conflict
        try:
            s.bind((host, port))
            s.listen(1)
        except OSError as exc:
            why = exc.strerror or exc
            message = f"port {port} on {host} is in use or not available ({why}); choose another --port"
            raise StartRefused(message) from None
