"""Retry and Catch decisions (pure functions)."""

from __future__ import annotations

import random
from typing import Any

from .errors import UNCATCHABLE, error_matches

DEFAULT_INTERVAL = 1
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BACKOFF = 2.0


def matches(error_equals: list, error: str, *, by_task: bool = False) -> bool:
    """True when any entry of ``ErrorEquals`` matches ``error`` (see :func:`error_matches`)."""
    return any(error_matches(p, error, by_task=by_task) for p in error_equals)


def find_retrier(retriers: list | None, error: str, *, by_task: bool = False) -> int | None:
    """Index of the first retrier whose ErrorEquals matches ``error``."""
    if error in UNCATCHABLE:
        return None
    for i, r in enumerate(retriers or []):
        if matches(r.get("ErrorEquals", []), error, by_task=by_task):
            return i
    return None


def retry_delay(retrier: dict, attempts_so_far: int, rng: random.Random | None = None) -> float | None:
    """Seconds to wait before the next attempt, or None when retries are exhausted.

    ``attempts_so_far`` counts retries already made by this retrier.  The
    delay is ``IntervalSeconds * BackoffRate ** attempts_so_far``, capped by
    ``MaxDelaySeconds``; with ``JitterStrategy: FULL`` a uniformly random
    delay between 0 and that value is used.
    """
    max_attempts = retrier.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS)
    if attempts_so_far >= max_attempts:
        return None
    interval = retrier.get("IntervalSeconds", DEFAULT_INTERVAL)
    backoff = retrier.get("BackoffRate", DEFAULT_BACKOFF)
    delay = float(interval) * (float(backoff) ** attempts_so_far)
    if "MaxDelaySeconds" in retrier:
        delay = min(delay, float(retrier["MaxDelaySeconds"]))
    if retrier.get("JitterStrategy") == "FULL":
        delay = (rng or random).uniform(0, delay)
    return delay


def find_catcher(catchers: list | None, error: str, *, by_task: bool = False) -> int | None:
    """Index of the first catcher whose ErrorEquals matches ``error``."""
    if error in UNCATCHABLE:
        return None
    for i, c in enumerate(catchers or []):
        if matches(c.get("ErrorEquals", []), error, by_task=by_task):
            return i
    return None


def error_output(error: str, cause: Any) -> dict:
    """The error output object passed to a catcher: ``{"Error", "Cause"}``."""
    return {"Error": error, "Cause": cause if cause is not None else ""}
