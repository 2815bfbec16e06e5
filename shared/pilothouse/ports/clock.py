"""The clock port (see :mod:`pilothouse.ports`)."""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    """Wall-clock time in seconds since the epoch (UTC)."""

    def time(self) -> float: ...
