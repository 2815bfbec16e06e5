"""Metrics, pure: datapoints, series, rollups and statistics (DESIGN §9, issue 11 §1).

A *series* is one (component, metric name, dimensions). Datapoints fold into per-minute and
per-hour *rollups* of a series: count, sum, min, max and a mergeable histogram
(:mod:`pilothouse.domain.metric_histogram`), so every statistic of any period, percentiles
included, is computed from rollups.

    >>> r = new_rollup()
    >>> fold(r, 3.0); fold(r, 5.0)
    >>> statistic(r, "Average"), statistic(r, "SampleCount"), statistic(r, "Maximum")
    (4.0, 2.0, 5.0)
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pilothouse.domain import metric_histogram

#: raw (minute) rollups live 15 days, hourly ones 400 days (as CloudWatch keeps them)
MINUTE_RETENTION_S = 15 * 86400
HOUR_RETENTION_S = 400 * 86400
#: a datapoint may be this old or this far in the future (CloudWatch: two weeks, two hours)
MAX_AGE_S = 14 * 86400
MAX_FUTURE_S = 2 * 3600
MAX_DIMENSIONS = 10

STATS = ("Sum", "Average", "Minimum", "Maximum", "SampleCount")
UNITS = (
    "None",
    "Count",
    "Count/Second",
    "Percent",
    "Seconds",
    "Milliseconds",
    "Microseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Bytes/Second",
)

METRIC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:/-]{0,254}$")
DIMENSION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")
COMPONENT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")  # as domain.components.NAME_PATTERN
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,3})?|100)$")
#: a statistic we compute, as a JSON Schema pattern (what :func:`check_stat` accepts)
STAT_PATTERN = r"^(Sum|Average|Minimum|Maximum|SampleCount|p(\d{1,2}(\.\d{1,3})?|100))$"


@dataclass(frozen=True, slots=True)
class Datapoint:
    """One measurement of a component's metric at a moment."""

    component: str
    name: str
    value: float
    timestamp: datetime
    unit: str = "None"
    dimensions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One bucket of a query's answer: its start and the statistic (None: no data in it)."""

    timestamp: datetime
    value: float | None


def check_stat(stat: str) -> str:
    """``stat`` if it is one we compute (``Sum``, ``Average``, ..., ``p50``, ``p99.9``), else ValueError."""
    if stat in STATS or _PERCENTILE.match(stat):
        return stat
    raise ValueError(f"unknown statistic {stat!r}: one of {', '.join(STATS)} or a percentile like p99")


def series_key(component: str, name: str, dimensions: Mapping[str, str]) -> str:
    """A short, stable id of the series (component, name, dimensions)."""
    canonical = json.dumps(sorted(dimensions.items()), separators=(",", ":"))
    return hashlib.sha1(canonical.encode(), usedforsecurity=False).hexdigest()[:16]


def epoch(moment: datetime) -> int:
    """Whole seconds since the epoch (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def new_rollup() -> dict[str, Any]:
    return {"count": 0, "sum": 0.0, "min": None, "max": None, "hist": {}}


def fold(rollup: dict[str, Any], value: float, count: int = 1) -> None:
    """Count one value into a rollup (in place)."""
    rollup["count"] += count
    rollup["sum"] += value * count
    low, high = rollup["min"], rollup["max"]
    rollup["min"] = value if low is None or value < low else low
    rollup["max"] = value if high is None or value > high else high
    metric_histogram.add(rollup["hist"], value, count)


def combine(into: dict[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """Merge rollup ``other`` into ``into`` (in place) and return it."""
    if not other.get("count"):
        return into
    into["count"] += other["count"]
    into["sum"] += other["sum"]
    into["min"] = other["min"] if into["min"] is None else min(into["min"], other["min"])
    into["max"] = other["max"] if into["max"] is None else max(into["max"], other["max"])
    metric_histogram.merge(into["hist"], other["hist"])
    return into


def statistic(rollup: Mapping[str, Any], stat: str) -> float | None:
    """The statistic of a rollup; None when it counted nothing."""
    return statistic_of(stat)(rollup)


def statistic_of(stat: str) -> Callable[[Mapping[str, Any]], float | None]:
    """The function that reads ``stat`` from a rollup (None when it counted nothing). A rollup with
    ``"ordered": True`` has its histogram keys in value order (stored rollups do)."""
    if stat == "Sum":
        return lambda r: float(r["sum"]) if r["count"] else None
    if stat == "Average":
        return lambda r: float(r["sum"]) / r["count"] if r["count"] else None
    if stat == "Minimum":
        return lambda r: float(r["min"]) if r["count"] else None
    if stat == "Maximum":
        return lambda r: float(r["max"]) if r["count"] else None
    if stat == "SampleCount":
        return lambda r: float(r["count"]) if r["count"] else None
    q = float(check_stat(stat)[1:])
    percentile = metric_histogram.percentile
    return lambda r: (
        percentile(
            r["hist"], q, low=r["min"], high=r["max"], in_order=r.get("ordered", False), total=r["count"]
        )
        if r["count"]
        else None
    )
