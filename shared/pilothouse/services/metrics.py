"""The Monitoring System: ingest datapoints into rollups, and query statistics back (issue 11 §1).

    ingest(ctx, [Datapoint("greeter", "latency_ms", 12.5, now)])      # -> 1
    query(ctx, "greeter", "latency_ms", stat="p99", period=60, start=now - 1h, end=now)
    # -> [MetricPoint(timestamp, value | None), ...] one per period of [start, end)

A batch is checked whole before anything is written (a 422 names every bad index). It is then
folded into per-minute and per-hour rollups of each series with conditional writes: a concurrent
writer of the same rollup makes this one re-read and merge again, and a batch carries an id (the
digest of its content) that each rollup remembers, so a batch retried after a crash or a lost
answer is not counted twice where it already landed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pilothouse.domain.metrics import (
    COMPONENT_NAME,
    DIMENSION_NAME,
    MAX_AGE_S,
    MAX_DIMENSIONS,
    MAX_FUTURE_S,
    METRIC_NAME,
    MINUTE_RETENTION_S,
    UNITS,
    Datapoint,
    MetricPoint,
    at,
    check_stat,
    combine,
    epoch,
    fold,
    new_rollup,
    series_key,
    statistic,
)
from pilothouse.errors import AlreadyExists, ValidationFailed, VersionConflict
from pilothouse.repositories.metrics import HOUR, MINUTE, MetricRepository, rollup_key

if TYPE_CHECKING:
    from pilothouse.services.context import ServiceContext

__all__ = ["Datapoint", "MetricPoint", "ingest", "query", "series"]

MAX_BATCH = 1000
#: the batch ids a rollup remembers
_REMEMBERED = 16
_CHUNK = 25
_TRIES = 8
#: the longest range one query may cover, in periods (CloudWatch answers 100,800 datapoints)
MAX_POINTS = 100_800


def check(datapoints: Sequence[Datapoint], now: float) -> None:
    """ValidationFailed naming every offending index (``datapoints.3.value``) and why."""
    errors: list[dict[str, Any]] = []

    def bad(index: int, field: str, message: str) -> None:
        errors.append({"field": f"datapoints.{index}.{field}", "index": index, "message": message})

    if len(datapoints) > MAX_BATCH:
        raise ValidationFailed.field("datapoints", f"at most {MAX_BATCH} datapoints per request")
    for i, dp in enumerate(datapoints):
        if not COMPONENT_NAME.match(dp.component):
            bad(i, "component", "lower-case letters, digits and dashes, starting with a letter")
        if not METRIC_NAME.match(dp.name):
            bad(i, "name", "letters, digits and _.:/- (at most 255), starting with a letter or _")
        if not math.isfinite(dp.value):
            bad(i, "value", "must be a finite number")
        if dp.unit not in UNITS:
            bad(i, "unit", f"one of {', '.join(UNITS)}")
        ts = dp.timestamp.timestamp() if dp.timestamp.tzinfo else epoch(dp.timestamp)
        if ts < now - MAX_AGE_S or ts > now + MAX_FUTURE_S:
            bad(i, "timestamp", "must lie within the last 14 days and the next 2 hours")
        if len(dp.dimensions) > MAX_DIMENSIONS:
            bad(i, "dimensions", f"at most {MAX_DIMENSIONS} dimensions")
        for key, value in dp.dimensions.items():
            if not DIMENSION_NAME.match(key) or not isinstance(value, str) or not 0 < len(value) <= 256:
                bad(
                    i,
                    f"dimensions.{key[:64]}",
                    "a name of letters, digits and _.:- and a value of 1-256 characters",
                )
                break
    if errors:
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise ValidationFailed(f"{len(errors)} datapoint(s) refused, none written: {summary}", errors)


def batch_id(datapoints: Sequence[Datapoint]) -> str:
    """The digest of a batch's content: a retry of the same batch has the same id."""
    digest = hashlib.sha256()
    for dp in datapoints:
        dims = ",".join(f"{k}={v}" for k, v in sorted(dp.dimensions.items()))
        digest.update(f"{dp.component}|{dp.name}|{dp.value!r}|{epoch(dp.timestamp)}|{dims}\n".encode())
    return digest.hexdigest()[:24]


def ingest(ctx: ServiceContext, datapoints: Sequence[Datapoint]) -> int:
    """Fold a batch of datapoints into the rollups; the number of datapoints written.

    All or nothing as far as the caller can tell: a bad datapoint refuses the batch before any write,
    and a retried batch only completes what an interrupted one left undone.
    """
    if not datapoints:
        return 0
    check(datapoints, ctx.clock.time())
    repo = MetricRepository(ctx.store)
    bid = batch_id(datapoints)
    partial: dict[tuple[int, str, str, str, int], dict[str, Any]] = {}
    units: dict[tuple[str, str, str], tuple[Mapping[str, str], str, int]] = {}
    for dp in datapoints:
        key = series_key(dp.component, dp.name, dp.dimensions)
        ts = epoch(dp.timestamp)
        ident = (dp.component, dp.name, key)
        if ident not in units:
            units[ident] = (dp.dimensions, dp.unit, ts)
        for period in (MINUTE, HOUR):
            slot = (period, dp.component, dp.name, key, ts - ts % period)
            rollup = partial.get(slot)
            if rollup is None:
                rollup = partial[slot] = new_rollup()
            fold(rollup, float(dp.value))
    for (component, name, key), (dimensions, unit, first) in units.items():
        if not repo.has_series(component, name, key):
            repo.add_series(
                {
                    "component": component,
                    "name": name,
                    "key": key,
                    "dimensions": dict(dimensions),
                    "unit": unit,
                    "first_at": first,
                }
            )
    slots = list(partial.items())
    for offset in range(0, len(slots), _CHUNK):
        _apply(repo, slots[offset : offset + _CHUNK], bid)
    return len(datapoints)


def _apply(repo: MetricRepository, chunk: list, bid: str) -> None:
    """Merge one chunk of partial rollups into the stored ones, in one conditional transaction."""
    keys = [rollup_key(period, c, n, k, start) for (period, c, n, k, start), _ in chunk]
    for attempt in range(_TRIES):
        found = repo.current(keys)
        ops = []
        for ((period, component, name, key, start), part), (pk, sk), item in zip(
            chunk, keys, found, strict=True
        ):
            if item is not None and bid in item.data["batches"]:
                continue  # this batch already landed here
            base = dict(item.data) if item is not None else None
            merged = combine(
                {
                    "count": base["count"] if base else 0,
                    "sum": base["sum"] if base else 0.0,
                    "min": base["min"] if base else None,
                    "max": base["max"] if base else None,
                    "hist": dict(base["hist"]) if base else {},
                },
                part,
            )
            batches = ([*base["batches"], bid] if base else [bid])[-_REMEMBERED:]
            data = {"component": component, "name": name, "key": key, "start": start, "period": period}
            data.update(merged)
            data["batches"] = batches
            ops.append(repo.write(period, pk, sk, data, item))
        if not ops:
            return
        try:
            repo.transact(ops)
            return
        except (VersionConflict, AlreadyExists):
            if attempt == _TRIES - 1:
                raise


def series(
    ctx: ServiceContext, component: str | None = None, metric: str | None = None
) -> list[dict[str, Any]]:
    """The series known for a component (and metric), or for the fleet: name, dimensions, unit."""
    return MetricRepository(ctx.store).series(component, metric)


def query(
    ctx: ServiceContext,
    component: str,
    metric: str,
    *,
    stat: str,
    period: int,
    start: datetime,
    end: datetime,
    dimensions: Mapping[str, str] | None = None,
) -> list[MetricPoint]:
    """One statistic of a component's metric per ``period`` seconds of [start, end).

    Buckets start at ``start`` rounded down to the minute (to the hour when the period is whole
    hours, or when ``start`` is older than the minute data's 15 days) and have ``value`` None when no
    datapoint fell in them. ``dimensions`` selects the series that carry those dimension values
    (all series of the metric when None); their rollups merge, percentiles included.
    """
    check_stat(stat)
    if period < 60 or period % 60:
        raise ValidationFailed.field("period", "seconds, a positive multiple of 60")
    lo, hi = epoch(start), epoch(end)
    if hi <= lo:
        raise ValidationFailed.field("end", "must be later than start")
    old = lo < ctx.clock.time() - MINUTE_RETENTION_S
    granularity = HOUR if period % HOUR == 0 or old else MINUTE
    if period % granularity:
        raise ValidationFailed.field("period", "a multiple of 3600 for data older than 15 days")
    lo -= lo % granularity
    if (hi - lo) // period > MAX_POINTS:
        raise ValidationFailed.field("period", f"the range holds more than {MAX_POINTS} periods")
    repo = MetricRepository(ctx.store)
    wanted = dict(dimensions or {})
    chosen = [
        s
        for s in repo.series(component, metric)
        if s["name"] == metric and all(s["dimensions"].get(k) == v for k, v in wanted.items())
    ]
    buckets: dict[int, dict[str, Any]] = {}
    for s in chosen:
        for rollup in repo.rollups(granularity, component, metric, s["key"], lo, hi):
            slot = lo + (rollup["start"] - lo) // period * period
            into = buckets.get(slot)
            if into is None:
                into = buckets[slot] = new_rollup()
            combine(into, rollup)
    out = []
    for slot in range(lo, hi, period):
        merged = buckets.get(slot)
        out.append(MetricPoint(at(slot), statistic(merged, stat) if merged else None))
    return out
