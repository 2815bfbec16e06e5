"""Clocks, injected everywhere time matters so tests can control it.

>>> clock = ManualClock(1_700_000_000.0)
>>> clock.advance(5); clock.time()
1700000005.0

A :class:`ScaledClock` runs ``scale`` times faster than the wall clock (``pilothouse dev`` with
``PILOTHOUSE_CLOCK_SCALE``, for tests and demos). What the control plane stamps and judges reads
it; what measures real work (leases, visibility timeouts, process and HTTP timeouts) converts with
:func:`clock_seconds`, and what faces the outside world (signature timestamps, tokens) reads
:func:`wall_time`.

>>> fast = ScaledClock(10, start=1_700_000_000.0, monotonic=lambda: 5.0)
>>> clock_seconds(fast, 3), real_seconds(fast, 60)
(30.0, 6.0)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pilothouse.ports import Clock

__all__ = [  # Clock is the port's
    "Clock",
    "ManualClock",
    "ScaledClock",
    "SystemClock",
    "clock_seconds",
    "iso",
    "parse_iso",
    "rate",
    "real_seconds",
    "wall_time",
]


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


class ScaledClock:
    """A clock that reads ``start`` now and then runs ``scale`` times as fast as real time (on the
    monotonic clock, so a wall-clock jump does not move it). ``scale`` 1 with a ``start`` ahead of
    the wall clock is an offset clock (a data dir that once ran scaled, restarted without)."""

    def __init__(
        self,
        scale: float,
        *,
        start: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not scale >= 1:
            raise ValueError(f"a clock scale is at least 1, got {scale!r}")
        self.scale = float(scale)
        self._monotonic = monotonic
        self._origin = monotonic()
        self.start = time.time() if start is None else float(start)

    def time(self) -> float:
        return self.start + (self._monotonic() - self._origin) * self.scale

    def __repr__(self) -> str:
        return f"ScaledClock(scale={self.scale}, start={self.start})"


def rate(clock: Clock) -> float:
    """Clock seconds per real second: a :class:`ScaledClock`'s scale, 1 for any other clock."""
    return clock.scale if isinstance(clock, ScaledClock) else 1.0


def clock_seconds(clock: Clock, real: float) -> float:
    """How far ``clock`` moves in ``real`` seconds (a lease or timeout that guards real work)."""
    return real * rate(clock)


def real_seconds(clock: Clock, seconds: float) -> float:
    """How many real seconds ``clock`` takes to move ``seconds`` (a wait for a clock time)."""
    return seconds / rate(clock)


def wall_time(clock: Clock) -> float:
    """The time to show the outside world (a signature's timestamp, a token's expiry): the wall
    clock under a :class:`ScaledClock`, else the clock itself (a test's manual clock)."""
    return time.time() if isinstance(clock, ScaledClock) else clock.time()


def iso(ts: float) -> str:
    """Seconds since the epoch as an ISO-8601 UTC timestamp with milliseconds and a 'Z'."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> float:
    """The inverse of :func:`iso` (accepts any ISO-8601 timestamp with an offset or 'Z')."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
