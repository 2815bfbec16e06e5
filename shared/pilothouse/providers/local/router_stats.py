"""Per-revision request statistics of the router: counters since the last reset, and timestamped
samples (time, latency, error) in a bounded deque so that a window of the last N seconds can be
summarised (requests, errors, p50/p99) -- what a canary analysis reads.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RevisionStats", "percentile"]


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _latency_summary(latencies: Iterable[float]) -> dict[str, float | None]:
    """``{"p50_ms", "p99_ms"}`` of latencies in seconds (None without any)."""
    ordered = sorted(latencies)
    return {"p50_ms": _ms(percentile(ordered, 0.50)), "p99_ms": _ms(percentile(ordered, 0.99))}


@dataclass
class _Counters:
    requests: int = 0
    errors: int = 0
    # (clock time at completion, latency in seconds, was an error), oldest first
    samples: deque[tuple[float, float, bool]] = field(default_factory=deque)


class RevisionStats:
    """The statistics of every revision a router has seen (thread-safe).

    ``max_samples`` bounds the samples kept per revision; ``clock`` (monotonic seconds) stamps them.
    """

    def __init__(self, *, max_samples: int, clock: Callable[[], float]) -> None:
        self.max_samples = max_samples
        self.clock = clock
        self._lock = threading.Lock()
        self._by_revision: dict[str, _Counters] = {}

    def _new(self) -> _Counters:
        return _Counters(samples=deque(maxlen=self.max_samples))

    def names(self) -> list[str]:
        """Every revision with statistics."""
        with self._lock:
            return list(self._by_revision)

    def ensure(self, names: Iterable[str]) -> None:
        """Start (empty) statistics for the revisions in ``names`` that have none."""
        with self._lock:
            for name in names:
                self._by_revision.setdefault(name, self._new())

    def record(self, revision: str | None, status: int, seconds: float) -> None:
        """Count one request of ``revision`` that answered ``status`` after ``seconds`` (5xx is an
        error); nothing without a revision."""
        if revision is None:
            return
        error = status >= 500
        with self._lock:
            st = self._by_revision.setdefault(revision, self._new())
            st.requests += 1
            if error:
                st.errors += 1
            st.samples.append((self.clock(), seconds, error))

    def reset(self, revision: str | None = None) -> None:
        """Zero the counters of ``revision`` (of every revision if None)."""
        with self._lock:
            names = [revision] if revision is not None else list(self._by_revision)
            for n in names:
                if n in self._by_revision:
                    self._by_revision[n] = self._new()

    def prune(self, keep: Iterable[str]) -> None:
        """Forget the statistics of every revision not in ``keep``."""
        wanted = set(keep)
        with self._lock:
            for name in [n for n in self._by_revision if n not in wanted]:
                del self._by_revision[name]

    def since_reset(self, revision: str, *, reset: bool = False, samples: bool = False) -> dict[str, Any]:
        """Counters of ``revision`` since the last reset (see :meth:`Router.stats`)."""
        with self._lock:
            st = self._by_revision.get(revision) or _Counters()
            lat = [latency for _t, latency, _e in st.samples]
            requests, errors = st.requests, st.errors
            if reset and revision in self._by_revision:
                self._by_revision[revision] = self._new()
        out: dict[str, Any] = {
            "revision": revision,
            "requests": requests,
            "errors": errors,
            "error_rate": (errors / requests) if requests else 0.0,
            "samples": len(lat),
            **_latency_summary(lat),
        }
        if samples:
            out["latencies_ms"] = [_ms(v) for v in lat]
        return out

    def window(self, revision: str, seconds: float) -> dict[str, Any]:
        """What ``revision`` served over the last ``seconds`` (see :meth:`Router.window`)."""
        if seconds <= 0:
            raise ValueError("window must be positive")
        with self._lock:
            st = self._by_revision.get(revision)
            since = self.clock() - seconds
            picked: list[tuple[float, bool]] = []
            truncated = False
            if st is not None:
                for t, latency, error in reversed(st.samples):  # newest first: stop at the window's start
                    if t < since:
                        break
                    picked.append((latency, error))
                else:
                    truncated = len(st.samples) == st.samples.maxlen
        requests = len(picked)
        errors = sum(1 for _l, e in picked if e)
        return {
            "revision": revision,
            "window_seconds": seconds,
            "requests": requests,
            "errors": errors,
            "error_rate": (errors / requests) if requests else None,
            **_latency_summary(latency for latency, _e in picked),
            "truncated": truncated,
        }

    def between(self, revision: str, since: float, until: float) -> list[tuple[float, float, bool]]:
        """The samples (clock time, latency in seconds, was an error) of ``revision`` stamped in
        [since, until), oldest first (only those still kept: see ``max_samples``)."""
        with self._lock:
            st = self._by_revision.get(revision)
            if st is None:
                return []
            picked = []
            for sample in reversed(st.samples):
                if sample[0] < since:
                    break
                if sample[0] < until:
                    picked.append(sample)
        picked.reverse()
        return picked
