"""Histogram buckets as store layout version 4 spelled them, for tests that build old data: a
positive value below 1 was spelled "-k", like a negative value (the ambiguity layout 5 removed)."""

from __future__ import annotations

import math

from pilothouse.domain.metric_histogram import _LOG_GAMMA, OFFSET


def old_key(value: float) -> str:
    """Version 4's bucket key of ``value``."""
    if -1e-9 < value < 1e-9:
        return "z"
    index = math.ceil(math.log(abs(value)) / _LOG_GAMMA)
    return str(index) if value > 0 else f"-{index}"


def old_code(value: float) -> int:
    """Version 4's packed bucket number of ``value`` (its key as a minute block packed it)."""
    key = old_key(value)
    if key == "z":
        return 0
    return -(OFFSET + int(key[1:])) if key[0] == "-" else OFFSET + int(key)
