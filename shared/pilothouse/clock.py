"""Clocks, injected everywhere time matters so tests can control it.

>>> clock = ManualClock(1_700_000_000.0)
>>> clock.advance(5); clock.time()
1700000005.0
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from pilothouse.ports import Clock

__all__ = ["Clock", "ManualClock", "SystemClock", "iso", "parse_iso"]  # Clock is the port's


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to; thread-safe."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def set(self, when: float) -> None:
        with self._lock:
            self._now = when


def iso(ts: float) -> str:
    """Seconds since the epoch as an ISO-8601 UTC timestamp with milliseconds and a 'Z'."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> float:
    """The inverse of :func:`iso` (accepts any ISO-8601 timestamp with an offset or 'Z')."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
