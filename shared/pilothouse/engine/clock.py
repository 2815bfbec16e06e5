"""A virtual clock so the synchronous runner can skip waits instantly."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from .model import to_epoch


class VirtualClock:
    """A clock that only moves when told to.

    ``start`` is epoch seconds or a datetime (default: the wall clock at
    creation, rounded down to the second).
    """

    def __init__(self, start: Any = None) -> None:
        self._now = to_epoch(start) if start is not None else float(int(time.time()))

    def now(self) -> float:
        """Current virtual time in epoch seconds."""
        return self._now

    def now_datetime(self) -> datetime:
        """Current virtual time as an aware UTC datetime."""
        return datetime.fromtimestamp(self._now, tz=UTC)

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` and return the new time."""
        if seconds < 0:
            raise ValueError("a virtual clock cannot go backwards")
        self._now += seconds
        return self._now

    def set(self, when: Any) -> float:
        """Jump forward to ``when`` (never backwards)."""
        target = to_epoch(when)
        self._now = max(self._now, target)
        return self._now

    sleep = advance


class WallClock:
    """The real clock, with the same interface (``set`` really sleeps)."""

    def now(self) -> float:
        """Current wall-clock time in epoch seconds."""
        return time.time()

    def set(self, when: Any) -> float:
        """Sleep until ``when``."""
        delay = to_epoch(when) - time.time()
        if delay > 0:
            time.sleep(delay)
        return time.time()

    def advance(self, seconds: float) -> float:
        """Sleep ``seconds``."""
        time.sleep(max(0.0, seconds))
        return time.time()


def as_clock(clock: Any | None) -> Any:
    """Return ``clock`` or a new :class:`VirtualClock`."""
    return clock if clock is not None else VirtualClock()
