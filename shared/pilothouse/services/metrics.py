"""The Monitoring System: ingest datapoints into rollups, and query statistics back (issue 11 §1).

    ingest(ctx, [Datapoint("greeter", "latency_ms", 12.5, now)])      # -> 1
    query(ctx, "greeter", "latency_ms", stat="p99", period=60, start=now - 1h, end=now)
    # -> [MetricPoint(timestamp, value | None), ...] one per period of [start, end)

A batch is checked whole before anything is written (a 422 names every bad index). It is then
folded into per-minute and per-hour rollups of each series with conditional writes: a concurrent
writer of the same rollup makes this one re-read and merge again. A batch whose sender names it (the
request's Idempotency-Key, the collection sweep's own id) carries that id, which each rollup
remembers, so a batch retried after a crash or a lost answer is not counted twice where it already
landed; an unnamed batch always counts, even when its content equals another's (independent
senders of the same value).
"""

from __future__ import annotations

import hashlib
import math
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pilothouse.domain.metric_histogram import bucket_code
from pilothouse.domain.metrics import (
    COMPONENT_NAME,
    DIMENSION_NAME,
    HOUR_RETENTION_S,
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
    statistic_of,
)
from pilothouse.errors import ValidationFailed
from pilothouse.repositories.components import ComponentRepository
from pilothouse.repositories.metrics import HOUR, MINUTE, MetricRepository
from pilothouse.services.metric_rollups import (
    LATE_AFTER_S,
    Block,
    Minute,
    apply,
    apply_minutes,
    compacted_from,
)

if TYPE_CHECKING:
    from pilothouse.services.context import ServiceContext

__all__ = ["Datapoint", "MetricPoint", "ingest", "query", "series"]

MAX_BATCH = 1000
_UNITS = frozenset(UNITS)
#: the longest range one query may cover, in periods (CloudWatch answers 100,800 datapoints)
MAX_POINTS = 100_800
#: CloudWatch's bounds of a value's magnitude: larger ones (and non-zero smaller ones) are refused,
#: so a sum of a batch's values stays finite
MAX_MAGNITUDE = 2.0**360
MIN_MAGNITUDE = 2.0**-260
#: the control plane's own component: its metrics need no registered component
OWN = "pilothouse"


def check(
    datapoints: Sequence[Datapoint], now: float, registered: Callable[[str], bool] = lambda _: True
) -> list[int]:
    """Each datapoint's epoch second; ValidationFailed naming every offending index
    (``datapoints.3.value``) and why. ``registered`` tells whether a component exists."""
    errors: list[dict[str, Any]] = []

    def bad(index: int, field: str, message: str) -> None:
        errors.append({"field": f"datapoints.{index}.{field}", "index": index, "message": message})

    if len(datapoints) > MAX_BATCH:
        raise ValidationFailed.field("datapoints", f"at most {MAX_BATCH} datapoints per request")
    stamps: list[int] = []
    good_names: set[tuple[str, str]] = set()
    good_dimensions: set[tuple[tuple[str, str], ...]] = set()
    known: dict[str, bool] = {OWN: True}
    oldest, newest = now - MAX_AGE_S, now + MAX_FUTURE_S
    for i, dp in enumerate(datapoints):
        if (dp.component, dp.name) not in good_names:
            if dp.component not in known and COMPONENT_NAME.match(dp.component):
                known[dp.component] = registered(dp.component)
            if not COMPONENT_NAME.match(dp.component):
                bad(i, "component", "lower-case letters, digits and dashes, starting with a letter")
            elif not known[dp.component]:
                bad(i, "component", f"no component is named {dp.component!r}")
            elif not METRIC_NAME.match(dp.name):
                bad(i, "name", "letters, digits and _.:/- (at most 255), starting with a letter or _")
            else:
                good_names.add((dp.component, dp.name))
        value = dp.value
        if type(value) is float and MIN_MAGNITUDE <= value <= MAX_MAGNITUDE:
            pass  # the common case, decided in one comparison
        elif not isinstance(value, float | int) or not math.isfinite(value):
            bad(i, "value", "must be a finite number")
        elif abs(value) > MAX_MAGNITUDE or 0 < abs(value) < MIN_MAGNITUDE:
            bad(i, "value", "must be 0 or of a magnitude between 2^-260 and 2^360")
        if dp.unit not in _UNITS:
            bad(i, "unit", f"one of {', '.join(UNITS)}")
        moment = dp.timestamp
        ts = int(moment.timestamp()) if moment.tzinfo is not None else epoch(moment)
        stamps.append(ts)
        if ts < oldest or ts > newest:
            bad(i, "timestamp", "must lie within the last 14 days and the next 2 hours")
        if dp.dimensions and tuple(dp.dimensions.items()) not in good_dimensions:
            if len(dp.dimensions) > MAX_DIMENSIONS:
                bad(i, "dimensions", f"at most {MAX_DIMENSIONS} dimensions")
            for key, dim in dp.dimensions.items():
                if not DIMENSION_NAME.match(key) or not isinstance(dim, str) or not 0 < len(dim) <= 256:
                    bad(
                        i,
                        f"dimensions.{key[:64]}",
                        "a name of letters, digits and _.:- and a value of 1-256 characters",
                    )
                    break
            else:
                good_dimensions.add(tuple(dp.dimensions.items()))
    if errors:
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise ValidationFailed(f"{len(errors)} datapoint(s) refused, none written: {summary}", errors)
    return stamps


def batch_id(*parts: str) -> str:
    """A short id of a batch named by its sender (an Idempotency-Key and its caller, the sweep's
    component and minute): a retry of the same named batch has the same id."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


#: how long a component found registered is taken as registered without reading it again (a batch
#: names the same few components batch after batch; one deregistered meanwhile has its datapoints
#: taken this much longer, as a batch checked just before the deregistration would be)
REGISTERED_FOR_S = 5.0
#: per store, the components found registered lately and when
_seen_registered: weakref.WeakKeyDictionary[Any, dict[str, float]] = weakref.WeakKeyDictionary()


def _registered(ctx: ServiceContext, now: float) -> Callable[[str], bool]:
    """Whether a component is registered: read, or remembered for :data:`REGISTERED_FOR_S`."""
    seen = _seen_registered.setdefault(ctx.store, {})
    components = ComponentRepository(ctx.store)

    def registered(name: str) -> bool:
        at = seen.get(name)
        if at is not None and 0 <= now - at < REGISTERED_FOR_S:
            return True
        if components.get(name) is None:
            seen.pop(name, None)
            return False
        if len(seen) >= 10_000:
            seen.clear()
        seen[name] = now
        return True

    return registered


#: series keys computed lately, by (component, name, dimensions as items)
_series_keys: dict[tuple[str, str, tuple], str] = {}


def _series_key(memo: tuple[str, str, tuple], dimensions: Mapping[str, str]) -> str:
    key = _series_keys.get(memo)
    if key is None:
        if len(_series_keys) >= 10_000:
            _series_keys.clear()
        key = _series_keys[memo] = series_key(memo[0], memo[1], dimensions)
    return key


def ingest(ctx: ServiceContext, datapoints: Sequence[Datapoint], *, batch: str | None = None) -> int:
    """Fold a batch of datapoints into the rollups; the number of datapoints written.

    All or nothing as far as the caller can tell: a bad datapoint refuses the batch before any write,
    and a retried batch named by the same ``batch`` id only completes what an interrupted one left
    undone (no ``batch``: the batch always counts, as a new one). Fresh datapoints land in
    minute rollups (the sweep compacts finished hours into hour rollups,
    :func:`pilothouse.services.metric_rollups.compact`); a late one, whose hour was compacted
    already, lands in both.
    """
    if not datapoints:
        return 0
    now = ctx.clock.time()
    stamps = check(datapoints, now, _registered(ctx, now))
    repo = MetricRepository(ctx.store)
    late = int(now) - LATE_AFTER_S - HOUR
    late_before = late - late % HOUR + HOUR  # a datapoint before this is late (see LATE_AFTER_S)
    # the batch groups its values per (series, minute) first (one dict operation per datapoint),
    # then each group folds at once; a late datapoint also goes into its hour's partial rollup
    groups: dict[tuple[str, str, tuple, int], tuple[Datapoint, int, list[Any]]] = {}
    partial: dict[tuple[int, str, str, str, int], dict[str, Any]] = {}
    for dp, ts in zip(datapoints, stamps, strict=True):
        memo = (dp.component, dp.name, tuple(dp.dimensions.items()), ts - ts % MINUTE)
        group = groups.get(memo)
        if group is None:
            groups[memo] = (dp, ts, [dp.value])
        else:
            group[2].append(dp.value)
        if ts < late_before:  # late: its hour may be compacted already, so it goes there too
            key = _series_key(memo[:3], dp.dimensions)
            slot = (HOUR, dp.component, dp.name, key, ts - ts % HOUR)
            rollup = partial.get(slot)
            if rollup is None:
                rollup = partial[slot] = new_rollup()
            fold(rollup, float(dp.value))
    blocks: dict[Block, dict[int, Minute]] = {}
    fresh: dict[tuple[str, str, str], tuple[Mapping[str, str], str, int]] = {}
    for (component, name, items, minute), (dp, ts, values) in groups.items():
        key = _series_key((component, name, items), dp.dimensions)
        ident = (component, name, key)
        if ident not in fresh:
            fresh[ident] = (dp.dimensions, dp.unit, ts)
        numbers = list(map(float, values))
        hist: dict[int, int] = {}
        for code in map(bucket_code, numbers):
            hist[code] = hist.get(code, 0) + 1
        # summed from -0.0 as a running total from the first value would be, bit for bit
        figures = [len(numbers), sum(numbers, -0.0), min(numbers), max(numbers), hist]
        blocks.setdefault((component, name, key, minute - minute % HOUR), {})[minute] = figures
    for (component, name, key), (dimensions, unit, first) in fresh.items():
        if not repo.has_series(component, name, key):
            record: dict[str, Any] = {"component": component, "name": name, "key": key}
            record["dimensions"] = dict(dimensions)
            record.update({"unit": unit, "first_at": first, "compacted_until": compacted_from(now)})
            repo.add_series(record)
    bid = batch if batch is not None else uuid.uuid4().hex[:16]
    apply_minutes(repo, blocks, bid)
    if partial:
        apply(repo, partial, bid)
    return len(datapoints)


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
    # the end is exclusive: a fraction of a second rounds it up, so that the minute "now" is in (at
    # 12:00:00.3 that minute is under way) is one of the buckets, as it is at 12:00:01
    lo, hi = epoch(start), epoch(end) + (1 if end.microsecond else 0)
    if hi <= lo:
        raise ValidationFailed.field("end", "must be later than start")
    old = lo < ctx.clock.time() - MINUTE_RETENTION_S
    granularity = HOUR if old else MINUTE
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
    read = statistic_of(stat)
    values: dict[int, float | None] = {}
    kept = int(ctx.clock.time()) - (HOUR_RETENTION_S if old else MINUTE_RETENTION_S) - HOUR
    first = max(lo, kept - kept % granularity)  # nothing older is stored: no reads for it
    if len(chosen) == 1 and period == MINUTE and not old:  # each minute read as stored
        s = chosen[0]
        if first < hi:
            values.update(repo.minute_values(s["component"], s["name"], s["key"], first, hi, stat))
    elif len(chosen) == 1 and period == granularity:  # one rollup per bucket, read as stored
        for rollup in _rollups(repo, chosen[0], first, hi, hours=old) if first < hi else ():
            rollup["ordered"] = True  # as stored: its histogram in value order
            values[rollup["start"]] = read(rollup)
    else:  # a bucket merges several rollups
        buckets: dict[int, dict[str, Any]] = {}
        for s in chosen:
            for rollup in _rollups(repo, s, first, hi, hours=old) if first < hi else ():
                slot = lo + (rollup["start"] - lo) // period * period
                into = buckets.get(slot)
                if into is None:
                    into = buckets[slot] = new_rollup()
                combine(into, rollup)
        values = {slot: read(merged) for slot, merged in buckets.items()}
    out, moment, step = [], at(lo), timedelta(seconds=period)
    for slot in range(lo, hi, period):
        out.append(MetricPoint(moment, values.get(slot)))
        moment += step
    return out


def _rollups(repo: MetricRepository, s: dict[str, Any], lo: int, hi: int, *, hours: bool) -> list[dict]:
    """The rollups of one series over [lo, hi): hour rollups where the sweep wrote them (``hours``),
    minute rollups after that."""
    c, n, k = s["component"], s["name"], s["key"]
    if not hours:
        return repo.rollups(MINUTE, c, n, k, lo, hi)
    until = max(lo, min(hi, s["compacted_until"]))
    return repo.rollups(HOUR, c, n, k, lo, until) + repo.rollups(MINUTE, c, n, k, until, hi)
