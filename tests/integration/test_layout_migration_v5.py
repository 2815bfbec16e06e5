"""The store layout migration to version 5: minute blocks and hour rollups written under version 4's
bucket spelling (a positive value below 1 spelled like a negative one) are respelled. Percentiles
read right afterwards (and before, through the readers), a rerun or a second migrator changes
nothing, and an interrupted run resumes without counting anything twice."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from pilothouse.clock import ManualClock
from pilothouse.domain.components import ComponentSpec
from pilothouse.domain.metric_histogram import ACCURACY
from pilothouse.domain.metric_minutes import KEPT, encode, pack_codes
from pilothouse.domain.metrics import series_key
from pilothouse.ports import Item
from pilothouse.repositories.metrics import migrate_buckets
from pilothouse.services import components, metrics, migrations
from pilothouse.settings import Settings
from pilothouse.wiring import Services
from tests.support.metric_buckets_v4 import old_code, old_key
from tests.support.specs import spec

NOW = 1_800_000_000.0  # 08:00 UTC
T0 = datetime.fromtimestamp(NOW, UTC)
KEY = series_key("greeter", "ratio", {})
MINUTES = 120  # 06:00 to 08:00: two blocks
DAY_PK = f"METRIC_MIN#greeter#ratio#{KEY}#{T0:%Y-%m-%d}"


def _old_minute(vals: list[float]) -> tuple:
    """A minute tuple as version 4 wrote it: old codes, and the kept percentiles it read from
    them (wrong ones: the value order of its codes was not the values')."""
    counts: dict[int, int] = {}
    for v in vals:
        counts[old_code(v)] = counts.get(old_code(v), 0) + 1
    codes = sorted(counts)
    return (
        len(vals),
        sum(vals),
        min(vals),
        max(vals),
        pack_codes(codes, [counts[c] for c in codes]),
        0.0,
        0.0,
        0.0,
    )


def _layout_4_items(values: dict[int, list[float]]) -> list[Item]:
    items = [Item("SCHEMA", "layout", {"version": 4}, 1)]
    items.append(
        Item(
            "METRIC_SERIES",
            f"greeter#ratio#{KEY}",
            {
                "component": "greeter",
                "name": "ratio",
                "key": KEY,
                "dimensions": {},
                "unit": "None",
                "first_at": min(values),
                "compacted_until": int(NOW),  # the hour rollups are there
            },
            1,
        )
    )
    hours: dict[int, dict[str, tuple]] = {}
    for start in sorted(values):
        hour = start - start % 3600
        hours.setdefault(hour, {})[f"{(start - hour) // 60:02d}"] = _old_minute(values[start])
    for hour, minutes in hours.items():
        data = {"start": hour, "period": 60, "minutes": encode(minutes), "batches": "old", "moved": True}
        sk = f"H#{datetime.fromtimestamp(hour, UTC):%H}"
        items.append(Item(DAY_PK, sk, data, 1, hour + 3600 + 15 * 86400))
        # the hour's rollup as version 4's compaction wrote it (keys in the old spelling)
        vals = [v for s, vs in values.items() if hour <= s < hour + 3600 for v in vs]
        hist: dict[str, int] = {}
        for v in vals:
            hist[old_key(v)] = hist.get(old_key(v), 0) + 1
        rollup = {
            "start": hour,
            "period": 3600,
            "count": len(vals),
            "sum": sum(vals),
            "min": min(vals),
            "max": max(vals),
            "hist": hist,
            "batches": "",
        }
        hour_pk = f"METRIC_HOUR#greeter#ratio#{KEY}#{T0:%Y-%m}"
        items.append(Item(hour_pk, f"{datetime.fromtimestamp(hour, UTC):%dT%H}", rollup, 1))
    return items


@pytest.fixture
def services(tmp_path) -> Iterator[Services]:
    settings = Settings(
        store="sqlite",
        queue="memory",
        blobs="memory",
        data_dir=tmp_path / "data",
        store_transaction_scope="partition",
    )
    s = Services(settings, ManualClock(NOW))
    components.register(s, ComponentSpec.model_validate(spec("greeter")), actor="t")
    yield s
    s.close()


@pytest.fixture
def values() -> dict[int, list[float]]:
    """Ratios below 1 mostly; some minutes of negatives only, some of both signs."""
    rng = random.Random(5)
    base = int(NOW) - MINUTES * 60
    out = {}
    for m in range(MINUTES):
        vals = [rng.uniform(0.01, 0.99) for _ in range(rng.randint(1, 8))]
        if m % 10 == 3:
            vals = [-rng.uniform(0.5, 3.0) for _ in vals]
        elif m % 10 == 7:
            vals.append(rng.uniform(1.5, 40.0))
        out[base + m * 60] = vals
    return out


def _query(services: Services, stat: str, period: int = 60) -> list[float | None]:
    start = T0 - timedelta(minutes=MINUTES)
    return [
        p.value
        for p in metrics.query(services, "greeter", "ratio", stat=stat, period=period, start=start, end=T0)
    ]


def _check_hours(services: Services, values: dict[int, list[float]]) -> None:
    """The hour rollups' p50 (read as such once the range is older than the minutes' 15 days)."""
    services.clock.advance(16 * 86400)  # type: ignore[attr-defined]
    try:
        start = T0 - timedelta(minutes=MINUTES)
        got = [
            p.value
            for p in metrics.query(services, "greeter", "ratio", stat="p50", period=3600, start=start, end=T0)
        ]
    finally:
        services.clock.advance(-16 * 86400)  # type: ignore[attr-defined]
    starts = sorted(values)
    for hour, value in zip((starts[0], starts[0] + 3600), got, strict=True):
        ranked = sorted(v for s in starts if hour <= s < hour + 3600 for v in values[s])
        want = ranked[math.floor(0.5 * (len(ranked) - 1))]
        assert value is not None and abs(value - want) <= abs(want) * ACCURACY


def _check(services: Services, values: dict[int, list[float]]) -> None:
    starts = sorted(values)
    for q in (*KEPT, 25.0, 75.0):
        got = _query(services, f"p{q:g}")
        for value, start in zip(got, starts, strict=True):
            ranked = sorted(values[start])
            want = ranked[math.floor(q / 100 * (len(ranked) - 1))]
            assert value is not None and abs(value - want) <= abs(want) * ACCURACY, (q, start)
    assert _query(services, "SampleCount") == [float(len(values[s])) for s in starts]
    hours = _query(services, "p50", period=3600)
    for hour, got in zip((starts[0], starts[0] + 3600), hours, strict=True):
        ranked = sorted(v for s in starts if hour <= s < hour + 3600 for v in values[s])
        want = ranked[math.floor(0.5 * (len(ranked) - 1))]
        assert got is not None and abs(got - want) <= abs(want) * ACCURACY


def _stored(services: Services) -> list[Item]:
    return [i for i in services.store.scan() if i.pk.startswith(("METRIC_MIN#", "METRIC_HOUR#"))]


def test_version_4_histograms_are_respelled_and_read_right(services, values):
    """Given two hours of minutes (sub-1 values, negatives, both signs) and their hour rollups in
    layout 4, When migrated, Then every percentile of every minute and hour is within 2 % of the
    sample's, and every item is marked; reading before the migration already gives the same."""
    services.store.load(_layout_4_items(values))
    _check(services, values)  # unmarked blocks are read in today's spelling
    done = migrations.migrate(services.store)
    assert done["to"] == migrations.LAYOUT_VERSION == 5
    assert done["moved"]["metric_buckets"] == 4  # two blocks, two hour rollups
    assert all(i.data["buckets"] == 5 for i in _stored(services))
    _check(services, values)
    _check_hours(services, values)


def test_a_rerun_a_second_migrator_and_a_resumed_run_never_count_twice(services, values, monkeypatch):
    """Given a run killed at its second write (one item respelled, the rest not), When it runs
    again, twice, and a second migrator runs over the same items, Then each item is respelled
    once and the counts and percentiles are those of the values."""
    store = services.store
    store.load(_layout_4_items(values))
    partitions = {i.pk for i in _stored(services)}
    transact, calls = store.transact, []

    def dying(ops):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return transact(ops)

    monkeypatch.setattr(store, "transact", dying)
    with pytest.raises(RuntimeError):
        migrate_buckets(store, partitions)
    monkeypatch.setattr(store, "transact", transact)
    assert sum(i.data.get("buckets", 4) == 5 for i in _stored(services)) == 1
    assert migrate_buckets(store, partitions) == 3  # resumed: the three left
    assert migrate_buckets(store, partitions) == 0  # a second migrator after it: nothing
    migrations.migrate(store)
    assert migrations.migrate(store)["moved"] == {}
    _check(services, values)
    _check_hours(services, values)


def test_an_hour_without_its_minutes_is_decided_by_its_own_min_and_max(services, values):
    """Given old hour rollups whose minute blocks are gone (older than 15 days), When migrated, Then
    an hour of one sign reads right; an hour of both signs reads a negative value in its ambiguous
    buckets as a positive one below 1 (the documented fallback) yet its count stays."""
    store = services.store
    items = [i for i in _layout_4_items(values) if not i.pk.startswith("METRIC_MIN#")]
    store.load(items)
    hours = [i for i in items if i.pk.startswith("METRIC_HOUR#")]
    assert migrate_buckets(store, {i.pk for i in hours}) == 2
    for item in hours:
        got = store.get(item.pk, item.sk)
        assert got is not None and sum(got.data["hist"].values()) == item.data["count"]
        assert not any(k.startswith("-") and not k.startswith("--") for k in got.data["hist"]) or (
            item.data["min"] < 0 < item.data["max"]
        )


def test_an_ingest_into_an_old_block_writes_it_in_todays_codes(services, values):
    """Given a layout 4 block, When a datapoint lands in it before the migration, Then the block is
    respelled in that write (marked), the migration leaves it alone, and the minute counts both."""
    services.store.load(_layout_4_items(values))
    last = max(values)
    metrics.ingest(services, [metrics.Datapoint("greeter", "ratio", 0.5, datetime.fromtimestamp(last, UTC))])
    values[last].append(0.5)
    block = services.store.get(DAY_PK, "H#07")
    assert block is not None and block.data["buckets"] == 5
    assert migrations.migrate(services.store)["moved"]["metric_buckets"] == 3
    _check(services, values)


def test_two_migrators_and_an_ingest_racing_count_everything_once(services, values):
    """Given layout 4 items, When two migrators and an ingest into the same blocks run at once,
    Then every item is respelled exactly once between them and every value counts once."""
    services.store.load(_layout_4_items(values))
    partitions = {i.pk for i in _stored(services)}
    done: list[int] = []
    starts = sorted(values)[-30:]  # the last half hour: the second block

    def migrator() -> None:
        done.append(migrate_buckets(services.store, partitions))

    def ingest() -> None:
        for start in starts:
            moment = datetime.fromtimestamp(start, UTC)
            metrics.ingest(services, [metrics.Datapoint("greeter", "ratio", 0.25, moment)])

    threads = [threading.Thread(target=f) for f in (migrator, migrator, ingest)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for start in starts:
        values[start].append(0.25)
    assert sum(done) <= 4  # an ingest may have respelled the second block first
    assert all(i.data["buckets"] == 5 for i in _stored(services))
    _check(services, values)
