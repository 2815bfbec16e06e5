"""The Monitoring System's ingest and query (issue 11 §1): rollups, statistics, batches."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest

from pilothouse.clock import ManualClock
from pilothouse.domain.components import ComponentSpec
from pilothouse.errors import ValidationFailed
from pilothouse.services import components, metrics
from pilothouse.services.metrics import Datapoint, MetricPoint
from pilothouse.settings import Settings
from pilothouse.wiring import Services
from tests.support.specs import spec

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z, on a whole hour
T0 = datetime.fromtimestamp(NOW, UTC)


def registered(services: Services, name: str = "greeter") -> Services:
    components.register(services, ComponentSpec.model_validate(spec(name)), actor="t")
    return services


@pytest.fixture
def ctx():
    return registered(Services(Settings(store="memory"), ManualClock(NOW)))


@pytest.fixture
def sqlite_ctx(tmp_path):
    return registered(Services(Settings(store="sqlite", data_dir=tmp_path), ManualClock(NOW)))


def dp(value, *, minutes_ago=0.0, name="latency_ms", component="greeter", **dims) -> Datapoint:
    return Datapoint(component, name, value, T0 - timedelta(minutes=minutes_ago), "Milliseconds", dims)


def test_statistics_per_minute_bucket_with_gaps_as_none(ctx):
    """Given datapoints in two of three minutes, When queried per minute, Then each minute answers
    its own statistics and the empty one None."""
    metrics.ingest(ctx, [dp(10, minutes_ago=3), dp(30, minutes_ago=2.5), dp(5, minutes_ago=1)])
    start, end = T0 - timedelta(minutes=3), T0
    got = {
        s: [
            p.value
            for p in metrics.query(ctx, "greeter", "latency_ms", stat=s, period=60, start=start, end=end)
        ]
        for s in ("Sum", "Average", "Minimum", "Maximum", "SampleCount")
    }
    assert got["Sum"] == [40.0, None, 5.0]
    assert got["Average"] == [20.0, None, 5.0]
    assert got["Minimum"] == [10.0, None, 5.0] and got["Maximum"] == [30.0, None, 5.0]
    assert got["SampleCount"] == [2.0, None, 1.0]
    points = metrics.query(ctx, "greeter", "latency_ms", stat="Sum", period=60, start=start, end=end)
    assert points[0] == MetricPoint(start, 40.0)


def test_percentiles_come_from_rollups_within_two_percent(ctx):
    """Given 6,000 latencies spread over 60 minutes, When p50/p90/p99 are asked for the hour,
    Then each is within 2 % of the exact percentile of the raw values."""
    rng = random.Random(7)
    values = [rng.lognormvariate(3, 1) for _ in range(6000)]
    for offset in range(0, 6000, 1000):
        metrics.ingest(
            ctx,
            [
                dp(v, minutes_ago=(offset + i) % 60 + 0.5)
                for i, v in enumerate(values[offset : offset + 1000])
            ],
        )
    exact = sorted(values)
    for q in (50, 90, 99):
        [point] = metrics.query(
            ctx, "greeter", "latency_ms", stat=f"p{q}", period=3600, start=T0 - timedelta(hours=1), end=T0
        )
        truth = exact[int(q / 100 * (len(exact) - 1))]
        assert point.value == pytest.approx(truth, rel=0.021)


def test_hourly_rollups_answer_whole_hour_periods(ctx):
    """Given datapoints in two hours, When the period is 3600, Then the hour rollups answer."""
    metrics.ingest(ctx, [dp(1, minutes_ago=90), dp(2, minutes_ago=70), dp(4, minutes_ago=10)])
    got = metrics.query(
        ctx, "greeter", "latency_ms", stat="Sum", period=3600, start=T0 - timedelta(hours=2), end=T0
    )
    assert [p.value for p in got] == [3.0, 4.0]


def test_dimensions_select_and_merge_series(ctx):
    """Given two revisions' series, When queried with and without a dimension, Then one or both count."""
    metrics.ingest(
        ctx,
        [
            dp(1, name="requests", revision="1"),
            dp(2, name="requests", revision="2"),
            dp(4, name="requests", revision="2"),
        ],
    )
    window = dict(period=60, start=T0, end=T0 + timedelta(minutes=1))
    assert metrics.query(ctx, "greeter", "requests", stat="Sum", **window)[0].value == 7.0
    both = metrics.query(ctx, "greeter", "requests", stat="Sum", dimensions={"revision": "2"}, **window)
    assert both[0].value == 6.0
    assert (
        metrics.query(ctx, "greeter", "requests", stat="Sum", dimensions={"revision": "9"}, **window)[0].value
        is None
    )
    assert {s["dimensions"]["revision"] for s in metrics.series(ctx, "greeter")} == {"1", "2"}


def test_a_bad_batch_names_every_index_and_writes_nothing(ctx):
    """Given a batch with two bad datapoints, When ingested, Then a 422 names both and nothing lands."""
    batch = [dp(1), dp(float("nan")), dp(2, component="Bad Name"), dp(3)]
    with pytest.raises(ValidationFailed) as caught:
        metrics.ingest(ctx, batch)
    fields = [e["field"] for e in caught.value.errors]
    assert fields == ["datapoints.1.value", "datapoints.2.component"]
    assert metrics.series(ctx) == []


def test_values_beyond_cloudwatchs_magnitudes_are_refused(ctx):
    """Given values of 1e308, -2^361 and 1e-100 (beside fine 0 and 2^360), When ingested, Then a 422
    names each bad index's value and nothing lands, so no sum can overflow to inf or NaN."""
    batch = [dp(1e308), dp(0.0), dp(-(2.0**361)), dp(2.0**360), dp(1e-100)]
    with pytest.raises(ValidationFailed) as caught:
        metrics.ingest(ctx, batch)
    fields = [e["field"] for e in caught.value.errors]
    assert fields == ["datapoints.0.value", "datapoints.2.value", "datapoints.4.value"]
    assert metrics.series(ctx, "greeter") == []


def test_datapoints_of_an_unregistered_component_are_refused(ctx):
    """Given a batch naming a registered component, two unknown ones and the control plane's own,
    When ingested, Then a 422 names each unknown one's index and component and nothing lands."""
    batch = [dp(1), dp(2, component="ghost-1"), dp(3, component="pilothouse"), dp(4, component="ghost-2")]
    with pytest.raises(ValidationFailed) as caught:
        metrics.ingest(ctx, batch)
    assert [e["field"] for e in caught.value.errors] == ["datapoints.1.component", "datapoints.3.component"]
    assert "ghost-1" in caught.value.errors[0]["message"] and metrics.series(ctx) == []
    assert metrics.ingest(ctx, [dp(1), dp(3, component="pilothouse")]) == 2


def test_a_deregistered_component_is_refused_once_its_registration_is_no_longer_remembered(ctx):
    """Given a component whose datapoints were taken, When its record goes (deregistered), Then its
    datapoints are still taken for at most REGISTERED_FOR_S (as a batch checked just before would
    be), and refused after; a component registered meanwhile is taken at once (absence is never
    remembered)."""
    from pilothouse.repositories.components import RECORD_SK, component_pk

    assert metrics.ingest(ctx, [dp(1)]) == 1
    with pytest.raises(ValidationFailed):
        metrics.ingest(ctx, [dp(1, component="later")])
    registered(ctx, "later")
    assert metrics.ingest(ctx, [dp(1, component="later")]) == 1
    ctx.store.delete(component_pk("greeter"), RECORD_SK)
    assert metrics.ingest(ctx, [dp(2)]) == 1
    ctx.clock.advance(metrics.REGISTERED_FOR_S)
    with pytest.raises(ValidationFailed) as caught:
        metrics.ingest(ctx, [dp(3)])
    assert caught.value.errors[0]["field"] == "datapoints.0.component"


def test_old_and_future_timestamps_are_refused(ctx):
    """Given a datapoint 15 days old and one 3 hours ahead, Then both are refused by index."""
    with pytest.raises(ValidationFailed) as caught:
        metrics.ingest(ctx, [dp(1, minutes_ago=15 * 1440), dp(1, minutes_ago=-180)])
    assert [e["index"] for e in caught.value.errors] == [0, 1]


def test_identical_unnamed_batches_all_count(ctx):
    """Given three senders posting the same datapoint without naming their batches, When each is
    ingested, Then the minute's SampleCount is 3 (none is taken for a retry of another)."""
    for _ in range(3):
        assert metrics.ingest(ctx, [dp(7)]) == 1
    [point] = metrics.query(
        ctx, "greeter", "latency_ms", stat="SampleCount", period=60, start=T0, end=T0 + timedelta(minutes=1)
    )
    assert point.value == 3.0


def test_a_retried_batch_is_not_counted_twice(ctx):
    """Given a batch already ingested under a name (an Idempotency-Key), When the same batch comes
    again under that name, Then the sums stay."""
    batch = [dp(5, minutes_ago=m) for m in range(30)]
    metrics.ingest(ctx, batch, batch="key-1")
    metrics.ingest(ctx, batch, batch="key-1")
    got = metrics.query(
        ctx,
        "greeter",
        "latency_ms",
        stat="Sum",
        period=3600,
        start=T0 - timedelta(hours=1),
        end=T0 + timedelta(hours=1),
    )
    assert [p.value for p in got] == [145.0, 5.0]


def test_the_sweep_compacts_hours_and_minutes_expire_after_their_retention(ctx):
    """Given a minute rollup, When 3 hours pass and the sweep compacts, Then an hour rollup exists;
    When 15 days pass, Then minute data is gone and the hour answers."""
    from pilothouse.services.metric_rollups import compact

    metrics.ingest(ctx, [dp(2), dp(3, minutes_ago=-30)])
    assert compact(ctx) == 0  # the hour has not ended 2 h ago yet
    ctx.clock.advance(3 * 3600)
    assert compact(ctx) == 1 and compact(ctx) == 0
    ctx.clock.advance(15 * 86400)
    start = T0
    with pytest.raises(ValidationFailed, match="3600"):
        metrics.query(
            ctx, "greeter", "latency_ms", stat="Sum", period=60, start=start, end=start + timedelta(hours=1)
        )
    [hour] = metrics.query(
        ctx, "greeter", "latency_ms", stat="Sum", period=3600, start=start, end=start + timedelta(hours=1)
    )
    assert hour.value == 5.0


def test_a_late_datapoint_reaches_a_compacted_hour(ctx):
    """Given an hour compacted by the sweep, When a datapoint of that hour arrives late, Then the
    hour rollup counts it once, before and after the next compaction."""
    from pilothouse.services.metric_rollups import compact

    metrics.ingest(ctx, [dp(1)])
    ctx.clock.advance(3 * 3600)
    compact(ctx)
    metrics.ingest(ctx, [dp(10, minutes_ago=-5)])
    compact(ctx)
    ctx.clock.advance(15 * 86400)
    [hour] = metrics.query(
        ctx, "greeter", "latency_ms", stat="Sum", period=3600, start=T0, end=T0 + timedelta(hours=1)
    )
    assert hour.value == 11.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"stat": "p101"}, None), ({"period": 90}, "period"), ({"period": 0}, "period")],
)
def test_bad_query_parameters_are_refused(ctx, kwargs, field):
    """Given a bad statistic or period, Then the query is refused naming it."""
    args = {"stat": "Sum", "period": 60, "start": T0, "end": T0 + timedelta(hours=1)} | kwargs
    with pytest.raises((ValidationFailed, ValueError)) as caught:
        metrics.query(ctx, "greeter", "latency_ms", **args)
    if field:
        assert caught.value.errors[0]["field"] == field


def test_concurrent_writers_of_one_rollup_lose_nothing(sqlite_ctx):
    """Given eight threads ingesting different batches into the same minute on SQLite, Then every
    datapoint is counted once."""
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        barrier.wait()
        for b in range(5):
            metrics.ingest(sqlite_ctx, [dp(n * 1000 + b * 10 + i, minutes_ago=0.1) for i in range(10)])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    [point] = metrics.query(
        sqlite_ctx,
        "greeter",
        "latency_ms",
        stat="SampleCount",
        period=60,
        start=T0 - timedelta(minutes=1),
        end=T0,
    )
    assert point.value == 400.0


def _ingest_in_a_process(data_dir: str, n: int, ready, go) -> None:
    """One ingester process: its own Services on the shared SQLite file, one-partition scope."""
    settings = Settings(store="sqlite", data_dir=data_dir, store_transaction_scope="partition")
    services = Services(settings, ManualClock(NOW))
    ready.release()
    go.wait(60)
    for b in range(20):
        batch = [dp(n * 1000 + b * 10 + i, minutes_ago=0.1 + (i % 3)) for i in range(10)]
        batch += [dp(1.0, minutes_ago=0.1, name="requests")]  # a second series in the same batch
        metrics.ingest(services, batch)


def test_two_ingester_processes_on_one_series_lose_nothing(tmp_path):
    """Given two processes ingesting 20 batches each into the same series and minutes of one SQLite
    file at once (each with its own cache of what it wrote last), Then every datapoint is counted
    once."""
    import multiprocessing

    registered(Services(Settings(store="sqlite", data_dir=tmp_path), ManualClock(NOW)))
    spawn = multiprocessing.get_context("spawn")
    ready, go = spawn.Semaphore(0), spawn.Event()
    workers = [spawn.Process(target=_ingest_in_a_process, args=(str(tmp_path), n, ready, go)) for n in (1, 2)]
    for w in workers:
        w.start()
    for _ in workers:
        assert ready.acquire(timeout=60)
    go.set()  # both start writing at once
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    ctx = Services(Settings(store="sqlite", data_dir=tmp_path), ManualClock(NOW))
    window = {"period": 60, "start": T0 - timedelta(minutes=3), "end": T0}
    counts = [p.value for p in metrics.query(ctx, "greeter", "latency_ms", stat="SampleCount", **window)]
    assert sum(c or 0 for c in counts) == 2 * 20 * 10
    requests = metrics.query(ctx, "greeter", "requests", stat="Sum", **window)
    assert sum(p.value or 0 for p in requests) == 2 * 20


def test_a_batch_interrupted_midway_completes_on_retry_without_counting_twice(ctx, monkeypatch):
    """Given a batch whose writes die after the first partition's transaction (a killed process),
    When the same batch is sent again, Then every datapoint is counted exactly once."""
    batch = [dp(1, minutes_ago=m, name=f"m{m % 40}") for m in range(120)]  # 40 series: 40 partitions
    real, calls = ctx.store._transact, []

    def dying(operations, now):
        if operations[0].item.pk.startswith("METRIC_MIN#"):
            calls.append(1)
        if len(calls) == 2:
            raise SystemExit("killed")
        return real(operations, now)

    monkeypatch.setattr(ctx.store, "_transact", dying)
    with pytest.raises(SystemExit):
        metrics.ingest(ctx, batch, batch="b-1")
    monkeypatch.setattr(ctx.store, "_transact", real)
    landed = sum(
        p.value or 0
        for m in range(40)
        for p in metrics.query(
            ctx,
            "greeter",
            f"m{m}",
            stat="SampleCount",
            period=3600,
            start=T0 - timedelta(hours=3),
            end=T0 + timedelta(hours=1),
        )
    )
    assert 0 < landed < 120  # the kill left the batch half-landed
    metrics.ingest(ctx, batch, batch="b-1")
    counted = sum(
        p.value or 0
        for m in range(40)
        for p in metrics.query(
            ctx,
            "greeter",
            f"m{m}",
            stat="SampleCount",
            period=3600,
            start=T0 - timedelta(hours=3),
            end=T0 + timedelta(hours=1),
        )
    )
    assert counted == 120


def test_a_batch_killed_inside_its_sqlite_commit_leaves_nothing_and_lands_once_on_retry(
    sqlite_ctx, monkeypatch
):
    """Given a batch of 40 partitions whose one SQLite commit (every partition's transaction under
    one write lock) dies while its rows are being spelled (a killed process), Then none of it
    landed, and the same batch sent again is counted exactly once."""

    from pilothouse.store import sqlite as sqlite_store

    batch = [dp(1, minutes_ago=m, name=f"m{m % 40}") for m in range(120)]
    calls: list[int] = []
    encode = sqlite_store._encode  # how the store spells a row's document

    def dying(data):
        if isinstance(data, dict) and "minutes" in data:
            calls.append(1)  # a minute block's row
        if len(calls) == 20:
            raise SystemExit("killed")
        return encode(data)

    def counted() -> float:
        window = {"period": 3600, "start": T0 - timedelta(hours=3), "end": T0 + timedelta(hours=1)}
        return sum(
            p.value or 0
            for m in range(40)
            for p in metrics.query(sqlite_ctx, "greeter", f"m{m}", stat="SampleCount", **window)
        )

    monkeypatch.setattr(sqlite_store, "_encode", dying)
    with pytest.raises(SystemExit):
        metrics.ingest(sqlite_ctx, batch, batch="b-1")
    monkeypatch.setattr(sqlite_store, "_encode", encode)
    assert len(calls) == 20 and counted() == 0
    metrics.ingest(sqlite_ctx, batch, batch="b-1")
    metrics.ingest(sqlite_ctx, batch, batch="b-1")  # a second retry changes nothing
    assert counted() == 120


def test_a_range_of_decades_reads_only_what_is_kept(ctx):
    """Given a query from the epoch at hourly resolution, Then it is refused as too many periods,
    and 400 days of hours answer without reading beyond retention."""
    with pytest.raises(ValidationFailed, match="periods"):
        metrics.query(
            ctx,
            "greeter",
            "latency_ms",
            stat="Sum",
            period=3600,
            start=datetime(1970, 1, 1, tzinfo=UTC),
            end=T0,
        )
    metrics.ingest(ctx, [dp(3)])
    got = metrics.query(
        ctx,
        "greeter",
        "latency_ms",
        stat="Sum",
        period=86400,
        start=T0 - timedelta(days=400),
        end=T0 + timedelta(days=1),
    )
    assert sum(p.value or 0 for p in got) == 3.0


def test_prometheus_text_becomes_datapoints_and_oddities_are_skipped():
    """Given an exposition with a counter, a histogram, a NaN gauge and a sample with 11 labels,
    Then the counter and the histogram's samples are datapoints, the rest skipped; garbage is an error."""
    from pilothouse.services.metric_scrape import parse

    many = ",".join(f'l{i}="v"' for i in range(11))
    text = (
        '# TYPE hits_total counter\nhits_total{path="/"} 7\n'
        '# TYPE lat histogram\nlat_bucket{le="0.1"} 1\nlat_bucket{le="+Inf"} 2\nlat_sum 0.3\nlat_count 2\n'
        "# TYPE odd gauge\nodd NaN\n"
        f"# TYPE wide gauge\nwide{{{many}}} 1\n"
    )
    found = parse("web", text, NOW)
    names = [(d.name, dict(d.dimensions)) for d in found.datapoints]
    assert ("hits_total", {"path": "/"}) in names and ("lat_count", {}) in names
    assert found.skipped == 2 and found.error is None
    assert parse("web", "this is { not prometheus", NOW).error.startswith("not Prometheus text")


def test_a_replica_label_cannot_be_spoofed_and_a_long_label_name_skips_only_its_sample():
    """Given a scrape of replica r-1 whose exposition sets its own ``replica`` label and has a
    sample with a 100-character label name, Then our ``replica`` label wins (theirs is kept as
    ``exported_replica``), the long-named sample alone is skipped, and every datapoint passes the
    ingest's checks."""
    from pilothouse.services.metric_scrape import parse

    long_name = "l" * 100
    text = (
        '# TYPE hits_total counter\nhits_total{replica="r-9",path="/"} 7\n'
        f'# TYPE wide gauge\nwide{{{long_name}="v"}} 1\n'
    )
    found = parse("web", text, NOW, {"replica": "r-1"})
    assert [dict(d.dimensions) for d in found.datapoints] == [
        {"exported_replica": "r-9", "path": "/", "replica": "r-1"}
    ]
    assert found.skipped == 1
    metrics.check(found.datapoints, NOW)


def test_a_minute_spread_over_every_magnitude_stays_small_and_counts_everything(ctx):
    """Given 2,000 values spread over every magnitude a datapoint may have (each its own histogram
    bucket) sent into one minute, Then the stored minute keeps at most MAX_BUCKETS buckets, every
    value is counted, min and max are exact and the top percentiles stay within the sketch's 2 %."""
    from pilothouse.domain.metric_histogram import ACCURACY, MAX_BUCKETS
    from pilothouse.repositories.metrics import MetricRepository

    values = [1.5 ** (e / 4) for e in range(-1400, 600)]  # 1e-62 .. 1e53: 2,000 distinct buckets
    for offset in range(0, len(values), 1000):
        metrics.ingest(ctx, [dp(v, minutes_ago=0.5) for v in values[offset : offset + 1000]])
    [series] = MetricRepository(ctx.store).series("greeter", "latency_ms")
    [minute] = MetricRepository(ctx.store).rollups(
        60, "greeter", "latency_ms", series["key"], int(NOW) - 60, int(NOW)
    )
    assert len(minute["hist"]) <= MAX_BUCKETS and sum(minute["hist"].values()) == len(values)
    start, end = T0 - timedelta(minutes=1), T0

    def stat(name: str) -> float | None:
        [point] = metrics.query(ctx, "greeter", "latency_ms", stat=name, period=60, start=start, end=end)
        return point.value

    assert stat("SampleCount") == len(values)
    assert stat("Minimum") == min(values) and stat("Maximum") == max(values)
    truth = sorted(values)[int(0.99 * (len(values) - 1))]
    assert abs((p99 := stat("p99")) - truth) <= truth * ACCURACY * 1.01, (p99, truth)
