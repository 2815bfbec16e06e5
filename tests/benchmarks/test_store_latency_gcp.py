"""Store operation latency on the Firestore emulator beside SQLite, in one run (issue 15's figures).

    .venv/bin/pytest tests/benchmarks/test_store_latency_gcp.py -s -p no:xdist

The anchor is the SQLite store (the embedded default) doing the same operations in the same run,
samples interleaved. The emulator (@firestore-emulator/server, node, on 127.0.0.1) is a stand-in:
the table compares adapter paths (gRPC round trips, a transaction's begin/read/commit), not
Firestore's own latency.
"""

from __future__ import annotations

import time
import uuid

import pytest

from pilothouse.store import Check, Item, Put
from pilothouse.store.sqlite import SqliteStore
from tests.support.bench import quantile, report

pytestmark = pytest.mark.benchmark

ROUNDS = 150


def _operations(store, n: int):
    """One sample of each operation on ``store`` (round ``n``): seconds per operation."""
    out = {}
    started = time.perf_counter()
    store.get("B", "item-000")
    out["get"] = time.perf_counter() - started
    current = store.get("B", "counter")
    started = time.perf_counter()
    store.put(Item("B", "counter", {"n": n}), if_version=current.version)
    out["conditional put"] = time.perf_counter() - started
    component = store.get("B", "component")
    started = time.perf_counter()
    store.transact(
        [
            Put(Item("B", "component", {"n": n}), if_version=component.version),
            Put(Item("E", f"event-{n:06d}", {"n": n}), if_absent=True),
            Check("B", "counter", store.get("B", "counter").version),
        ]
    )
    out["transaction (3 items)"] = time.perf_counter() - started
    started = time.perf_counter()
    store.query("B", "item-", limit=20)
    out["partition query (20)"] = time.perf_counter() - started
    return out


def test_store_latency_firestore_emulator_beside_sqlite(tmp_path):
    """Given the SQLite store and the Firestore store on its emulator, each seeded alike, when each
    operation runs ROUNDS times (interleaved), then the table prints p50/p99 and ratios to SQLite."""
    from pilothouse.store.firestore import FirestoreStore
    from tests.support.firestore_emulator import FirestoreEmulator

    with FirestoreEmulator() as emulator:
        stores = {
            "sqlite": SqliteStore(tmp_path / "bench.db"),
            "firestore (emulator)": FirestoreStore(f"bench-{uuid.uuid4().hex[:8]}", client=emulator.client()),
        }
        for store in stores.values():
            for i in range(50):
                store.put(Item("B", f"item-{i:03d}", {"i": i, "pad": "x" * 200}))
            store.put(Item("B", "counter", {"n": 0}))
            store.put(Item("B", "component", {"n": 0}))
        samples: dict[str, dict[str, list[float]]] = {name: {} for name in stores}
        for n in range(ROUNDS):
            for name, store in stores.items():
                for op, seconds in _operations(store, n).items():
                    samples[name].setdefault(op, []).append(seconds)
        for store in stores.values():
            store.close()

    rows = {}
    for op in samples["sqlite"]:
        anchor = quantile(samples["sqlite"][op], 0.5)
        for name in stores:
            p50, p99 = quantile(samples[name][op], 0.5), quantile(samples[name][op], 0.99)
            rows[f"{op:<22} {name}"] = (
                f"p50 {p50 * 1000:8.3f} ms  p99 {p99 * 1000:8.3f} ms  ({p50 / anchor:5.1f}x sqlite p50)"
            )
    report(f"store latency, {ROUNDS} rounds (anchor: sqlite in the same run)", rows)
    assert all(len(v) == ROUNDS for table in samples.values() for v in table.values())
