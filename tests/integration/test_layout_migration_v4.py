"""The store layout migration to version 4 (issue 11): a series' minute rollups, one item per
minute in layout 3 (``METRIC_MIN#<series>#<day>`` / ``HH:MM``), become one block per hour
(``H#HH``). Statistics read the same after ``migrate``, nothing of the old spelling is left, every
write stays in one partition, and a rerun (after a crash or not) never counts a minute twice."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from pilothouse.clock import ManualClock
from pilothouse.domain.components import ComponentSpec
from pilothouse.domain.metric_histogram import ordered
from pilothouse.domain.metrics import fold, new_rollup, series_key
from pilothouse.ports import Item
from pilothouse.repositories.metrics import migrate_minutes
from pilothouse.services import components, metrics, migrations
from pilothouse.settings import Settings
from pilothouse.wiring import Services
from tests.support.specs import spec

NOW = 1_800_000_000.0  # 08:00 UTC
T0 = datetime.fromtimestamp(NOW, UTC)
KEY = series_key("greeter", "latency_ms", {})
MINUTES = 150  # 05:30 to 08:00: three hours of one day


def _layout_3_items(values: dict[int, list[float]]) -> list[Item]:
    """Minute rollups as layout 3 wrote them, and the series record and layout marker."""
    items = [Item("SCHEMA", "layout", {"version": 3}, 1)]
    items.append(
        Item(
            "METRIC_SERIES",
            f"greeter#latency_ms#{KEY}",
            {
                "component": "greeter",
                "name": "latency_ms",
                "key": KEY,
                "dimensions": {},
                "unit": "Milliseconds",
                "first_at": min(values),
                "compacted_until": 1_799_985_600,
            },
            1,
        )
    )
    for start, vals in values.items():
        rollup = new_rollup()
        for v in vals:
            fold(rollup, v)
        moment = datetime.fromtimestamp(start, UTC)
        data = {"start": start, "period": 60, **rollup, "batches": "old-batch"}
        data["hist"] = ordered(rollup["hist"])
        pk = f"METRIC_MIN#greeter#latency_ms#{KEY}#{moment:%Y-%m-%d}"
        items.append(Item(pk, f"{moment:%H:%M}", data, 1, start + 15 * 86400))
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
    rng = random.Random(4)
    base = int(NOW) - MINUTES * 60
    return {
        base + m * 60: [rng.lognormvariate(3, 1) for _ in range(rng.randint(1, 8))] for m in range(MINUTES)
    }


def _stats(services: Services) -> dict[str, list[float | None]]:
    start = T0 - timedelta(minutes=MINUTES)
    return {
        stat: [
            p.value
            for p in metrics.query(
                services, "greeter", "latency_ms", stat=stat, period=60, start=start, end=T0
            )
        ]
        for stat in ("SampleCount", "Sum", "Minimum", "Maximum", "p50", "p99")
    }


def _expected(values: dict[int, list[float]]) -> dict[str, list[float]]:
    ordered_starts = sorted(values)
    return {
        "SampleCount": [float(len(values[s])) for s in ordered_starts],
        "Sum": [sum(values[s]) for s in ordered_starts],
        "Minimum": [min(values[s]) for s in ordered_starts],
        "Maximum": [max(values[s]) for s in ordered_starts],
    }


def _old_spelling(store) -> list[Item]:
    return [i for i in store.scan() if i.pk.startswith("METRIC_MIN#") and not i.sk.startswith("H#")]


def test_minute_items_become_hour_blocks_and_read_the_same(services, values):
    """Given 150 minutes of rollups in layout 3, When the store is migrated, Then every minute's
    count, sum, min and max read exactly as written, percentiles lie within the sketch's 2 %, no
    item of the old spelling is left, and three blocks (one per hour) hold them."""
    store = services.store
    store.load(_layout_3_items(values))
    assert migrations.layout_version(store) == 3
    done = migrations.migrate(store)
    assert done["to"] == migrations.LAYOUT_VERSION
    assert done["moved"]["metric_minutes"] == MINUTES
    assert not _old_spelling(store)
    blocks = [i for i in store.scan() if i.pk.startswith("METRIC_MIN#")]
    assert sorted(i.sk for i in blocks) == ["H#05", "H#06", "H#07"]
    assert all(i.data["moved"] for i in blocks)
    got, want = _stats(services), _expected(values)
    assert got["SampleCount"] == want["SampleCount"]
    assert got["Sum"] == pytest.approx(want["Sum"])
    assert got["Minimum"] == want["Minimum"] and got["Maximum"] == want["Maximum"]
    for p50, vals in zip(got["p50"], (values[s] for s in sorted(values)), strict=True):
        assert p50 is not None and min(vals) <= p50 <= max(vals)


def test_a_rerun_and_a_crash_midway_never_count_a_minute_twice(services, values):
    """Given a migration that wrote the blocks but died before deleting the old items (as a killed
    process leaves it), When it runs again (twice), Then the old items go and each minute still
    counts once; an ingest after it adds to the blocks."""
    store = services.store
    store.load(_layout_3_items(values))
    legacy = {i.pk for i in _old_spelling(store)}
    kept = list(_old_spelling(store))
    migrate_minutes(store, legacy)
    store.load(kept)  # the deletes never happened
    assert _old_spelling(store)
    assert migrate_minutes(store, legacy) == 0  # every block took its minutes already
    assert not _old_spelling(store)
    migrations.migrate(store)
    migrations.migrate(store)
    assert _stats(services)["SampleCount"] == _expected(values)["SampleCount"]
    last = T0 - timedelta(seconds=30)
    metrics.ingest(services, [metrics.Datapoint("greeter", "latency_ms", 5.0, last)])
    counts = _stats(services)["SampleCount"]
    assert counts[-1] == len(values[max(values)]) + 1


def test_an_ingest_between_the_write_of_new_code_and_the_migration_is_kept(services, values):
    """Given new code that ingested into an hour before the migration ran (its block exists, the
    hour's old minutes too), When migrated, Then both are counted."""
    store = services.store
    store.load(_layout_3_items(values))
    last = max(values)
    metrics.ingest(
        services, [metrics.Datapoint("greeter", "latency_ms", 7.0, datetime.fromtimestamp(last, UTC))]
    )
    migrations.migrate(store)
    assert _stats(services)["SampleCount"][-1] == len(values[last]) + 1
