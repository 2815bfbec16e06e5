"""A minute block's columnar spelling (issue 11 §1): what a query reads per minute is what the
histogram says, and every figure survives the packing exactly."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from pilothouse.clock import ManualClock
from pilothouse.domain import metric_minutes
from pilothouse.domain.components import ComponentSpec
from pilothouse.domain.metric_histogram import ACCURACY, MAX_BUCKETS, add, ordered, percentile
from pilothouse.repositories.metrics import MetricRepository
from pilothouse.services import components, metrics
from pilothouse.services.metrics import Datapoint
from pilothouse.settings import Settings
from pilothouse.wiring import Services
from tests.support.specs import spec

NOW = 1_800_000_000.0  # on a whole hour
T0 = datetime.fromtimestamp(NOW, UTC)


@pytest.fixture(params=["memory", "sqlite"])
def ctx(request, tmp_path):
    services = Services(Settings(store=request.param, data_dir=tmp_path), ManualClock(NOW))
    components.register(services, ComponentSpec.model_validate(spec("greeter")), actor="t")
    return services


def test_per_minute_statistics_match_the_raw_values(ctx):
    """Given 3 hours of latencies (40 a minute, some minutes empty, sent over two batches each),
    When each statistic is asked per minute, Then count, sum, min, max and average are exact and
    every percentile (kept: p50/p90/p99, others: p95/p99.9/p10) is within 2 % of the exact one."""
    rng = random.Random(11)
    raw: dict[int, list[float]] = {}
    points = []
    for m in range(1, 181):
        if m % 17 == 0:
            continue  # a gap stays None
        for _ in range(40):
            value = rng.lognormvariate(3, 1.2)
            at = T0 - timedelta(minutes=m) + timedelta(seconds=rng.uniform(0, 59))
            raw.setdefault(int(at.timestamp()) // 60 * 60, []).append(value)
            points.append(Datapoint("greeter", "latency_ms", value, at, "Milliseconds", {}))
    rng.shuffle(points)
    for i in range(0, len(points), 1000):
        metrics.ingest(ctx, points[i : i + 1000])
    start, end = T0 - timedelta(hours=3), T0

    def per_minute(stat: str) -> dict[int, float | None]:
        got = metrics.query(ctx, "greeter", "latency_ms", stat=stat, period=60, start=start, end=end)
        assert len(got) == 180
        return {int(p.timestamp.timestamp()): p.value for p in got}

    count, total = per_minute("SampleCount"), per_minute("Sum")
    low, high, mean = per_minute("Minimum"), per_minute("Maximum"), per_minute("Average")
    for slot, value in count.items():
        values = raw.get(slot)
        if values is None:
            assert value is None and total[slot] is None and low[slot] is None
            continue
        assert value == len(values) and total[slot] == pytest.approx(sum(values), rel=1e-12)
        assert low[slot] == min(values) and high[slot] == max(values)
        assert mean[slot] == pytest.approx(sum(values) / len(values), rel=1e-12)
    for q in (50, 90, 99, 95, 99.9, 10):
        got = per_minute(f"p{q:g}")
        for slot, values in raw.items():
            truth = sorted(values)[int(q / 100 * (len(values) - 1))]
            assert abs(got[slot] - truth) <= truth * ACCURACY * 1.01, (q, slot, got[slot], truth)


def test_kept_percentiles_equal_the_histograms_reading(ctx):
    """Given a minute written over several batches, Then its kept p50/p90/p99 equal what the
    minute's merged histogram gives (the same answer as a query merging minutes would read)."""
    rng = random.Random(5)
    for _ in range(5):
        batch = [rng.lognormvariate(2, 2) for _ in range(200)]
        metrics.ingest(
            ctx,
            [Datapoint("greeter", "latency_ms", v, T0 - timedelta(seconds=30), "None", {}) for v in batch],
        )
    repo = MetricRepository(ctx.store)
    [series] = repo.series("greeter", "latency_ms")
    [minute] = repo.rollups(60, "greeter", "latency_ms", series["key"], int(NOW) - 60, int(NOW))
    assert minute["count"] == 1000
    for q in metric_minutes.KEPT:
        [(_, kept)] = repo.minute_values(
            "greeter", "latency_ms", series["key"], int(NOW) - 60, int(NOW), f"p{q:g}"
        )
        expected = percentile(minute["hist"], q, low=minute["min"], high=minute["max"])
        assert kept == expected


def test_packing_keeps_every_bucket_and_count():
    """Zero, negatives, the largest and smallest magnitudes a datapoint may have, and counts past
    2**32 all come back exactly from the packed string."""
    hist: dict[str, int] = {}
    for value in (0.0, -(2.0**360), -3.5, -(2.0**-260), 2.0**-260, 1.0, 7.25, 2.0**360):
        add(hist, value, 3)
    hist = ordered(hist)
    assert metric_minutes.unpack(metric_minutes.pack(hist)) == hist
    assert list(metric_minutes.unpack(metric_minutes.pack(hist))) == list(hist)  # value order kept
    wide = {"5": 2**40, "6": 1}
    packed = metric_minutes.pack(wide)
    assert packed[0] == "Q" and metric_minutes.unpack(packed) == wide
    with pytest.raises(ValueError):
        metric_minutes.pack({"40000": 1})


def test_columns_round_trip_and_a_full_hour_stays_under_a_dynamodb_item():
    """An hour of 60 minutes of MAX_BUCKETS buckets each encodes to well under 400 KB of JSON, and
    decodes back to the same minutes."""
    rng = random.Random(3)
    minutes = {}
    for m in range(60):
        hist: dict[str, int] = {}
        for e in range(MAX_BUCKETS):
            add(hist, 1.05 ** (e - 200) * (1 if e % 2 else -1), rng.randint(1, 2**31))
        hist = ordered(hist)
        count = sum(hist.values())
        minutes[f"{m:02d}"] = metric_minutes.minute(count, rng.random() * 1e6, -1e9, 1e9, hist)
    columns = metric_minutes.encode(minutes)
    assert len(json.dumps(columns)) < 300_000
    assert metric_minutes.decode(json.loads(json.dumps(columns))) == minutes
    mm, counts = metric_minutes.values(columns, "SampleCount")
    assert mm == list(range(60)) and counts == [float(m[0]) for m in minutes.values()]


def _magnitudes(rng: random.Random) -> float:
    kind = rng.random()
    if kind < 0.05:
        return 0.0
    if kind < 0.1:
        return rng.choice([2.0**-260, -(2.0**-260), 2.0**360, -(2.0**360), 1.0, -1.0, 1e-9, -1e-9])
    value = math.exp(rng.uniform(-180, 249))  # every magnitude a datapoint may have
    return value if kind < 0.6 else -value


def test_a_values_bucket_number_is_its_bucket_keys_packed_code():
    """For values of every magnitude and sign, bucket_code (what ingest folds into) is exactly the
    code the block packs for bucket_key's spelling, so the stored bytes are what they were."""
    from pilothouse.domain.metric_histogram import bucket_code, bucket_key

    rng = random.Random(8)
    for _ in range(20_000):
        value = _magnitudes(rng)
        code = bucket_code(value)
        assert code == metric_minutes._code(bucket_key(value)), value
        assert metric_minutes._key(code) == bucket_key(value)


def _merged_as_tuples(stored: dict[str, tuple], minutes: dict[int, list], hour: int) -> dict[str, tuple]:
    """The reference merge: each minute decoded as a tuple, its histogram as string keys, merged
    and spelled again with minute() (how blocks were merged before add_minutes)."""
    from pilothouse.domain.metric_histogram import merge

    out = dict(stored)
    for m, (count, total, low, high, codes) in minutes.items():
        hist = {metric_minutes._key(c): n for c, n in codes.items()}
        had = out.get(f"{m:02d}")
        if had is None:
            out[f"{m:02d}"] = metric_minutes.minute(count, total, low, high, ordered(hist))
            continue
        merged = ordered(merge(metric_minutes.unpack(had[4]), hist))
        figures = (had[0] + count, had[1] + total, min(had[2], low), max(had[3], high))
        out[f"{m:02d}"] = metric_minutes.minute(*figures, merged)
    return {mm: out[mm] for mm in sorted(out)}


def test_adding_minutes_column_by_column_equals_merging_them_as_tuples():
    """Given blocks built over many random batches (new and touched minutes, every magnitude, a
    minute pushed past MAX_BUCKETS buckets), Then add_minutes gives, byte for byte, the columns of
    the reference merge of decoded minutes."""
    from pilothouse.domain.metric_histogram import bucket_code

    rng = random.Random(9)
    for _ in range(30):
        columns: dict | None = None
        for _ in range(rng.randint(1, 6)):
            minutes: dict[int, list] = {}
            for m in rng.sample(range(60), rng.randint(1, 5)):
                values = [_magnitudes(rng) for _ in range(rng.choice([1, 3, 50, 700]))]
                hist: dict[int, int] = {}
                for v in values:
                    hist[bucket_code(v)] = hist.get(bucket_code(v), 0) + 1
                minutes[m] = [len(values), sum(values, -0.0), min(values), max(values), hist]
            expected = metric_minutes.encode(
                _merged_as_tuples(metric_minutes.decode(columns or {}), minutes, 0)
            )
            columns = metric_minutes.add_minutes(columns, minutes)
            assert columns == expected
            assert all(len(metric_minutes.unpack(h)) <= MAX_BUCKETS for h in columns["hist"])
