"""Store operation latency on Azure Tables (Azurite) beside SQLite (the anchor) and DynamoDB-on-moto,
in one run, samples interleaved: get, conditional put, a transaction (two puts and a check in one
partition) and a partition query (a page of 20 of 50 items).

Emulators are stand-ins: the ratios compare the adapters' paths (HTTP, SDK, conditions), not clouds.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable

import pytest

from pilothouse.clock import ManualClock
from pilothouse.store import Check, Item, Put
from pilothouse.store.base import Store
from pilothouse.store.sqlite import SqliteStore
from tests.support.bench import quantile, report

pytestmark = pytest.mark.slow
N = int(os.environ.get("BENCH_N", "100"))
ANCHOR = "sqlite"


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, Store]:
    from pilothouse.store.dynamodb import DynamoStore
    from tests.support.azurite import new_table_store
    from tests.support.moto_server import MotoServer

    clock = ManualClock()
    moto = MotoServer().start()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    built: dict[str, Store] = {
        "sqlite": SqliteStore(tmp_path_factory.mktemp("bench") / "state.db", clock),
        "dynamodb-moto": DynamoStore(
            f"bench-{uuid.uuid4().hex[:8]}", region="us-east-1", host=moto.url, clock=clock, create_table=True
        ),
        "azure-tables-azurite": new_table_store(clock),
    }
    yield built
    for store in built.values():
        store.close()
    moto.stop()


def _operations(store: Store) -> dict[str, Callable[[int], object]]:
    """Each operation on data laid out the same way in every store (a component-like record)."""
    record = {"name": "web", "state": "Running", "spec": {"replicas": 3, "env": {"A": "1" * 200}}}
    store.put(Item("COMPONENT", "web", record))
    store.put(Item("COMPONENT", "counter", {"n": 0}))
    store.put(Item("TX", "anchor", {}))
    for i in range(50):
        store.put(Item("EVENTS#web", f"{i:015d}", {"i": i, "kind": "component.updated"}))
    state = {"version": store.get("COMPONENT", "counter").version}

    def conditional_put(i: int) -> object:
        written = store.put(Item("COMPONENT", "counter", {"n": i}), if_version=state["version"])
        state["version"] = written.version
        return written

    def transaction(i: int) -> object:
        return store.transact(
            [
                Put(Item("TX", f"a{i:05d}", {"i": i}), if_absent=True),
                Put(Item("TX", f"b{i:05d}", {"i": i}), if_absent=True),
                Check("TX", "anchor", 1),
            ]
        )

    return {
        "get": lambda i: store.get("COMPONENT", "web"),
        "conditional put": conditional_put,
        "transaction (2 puts, 1 check)": transaction,
        "partition query (20 of 50)": lambda i: store.query("EVENTS#web", limit=20),
    }


def test_store_latency_on_azurite_beside_sqlite_and_moto(stores: dict[str, Store]) -> None:
    """Given the same records in SQLite, DynamoDB-on-moto and Azure Tables-on-Azurite, When each
    operation runs N times per store (interleaved), Then every result is right, and the p50/p99 and
    the ratios to SQLite are printed as one table."""
    operations = {name: _operations(store) for name, store in stores.items()}
    samples: dict[tuple[str, str], list[float]] = {}
    for i in range(N):
        for name, ops in operations.items():
            for op, call in ops.items():
                started = time.perf_counter()
                result = call(i)
                samples.setdefault((name, op), []).append(time.perf_counter() - started)
                assert result is not None
    for name, store in stores.items():
        assert store.get("COMPONENT", "counter").data == {"n": N - 1}, name
        assert len(store.scan_all("TX")) == 2 * N + 1, name
        assert store.get("TX", "anchor").version == 1, name  # a Check writes no version
        assert len(store.query("EVENTS#web", limit=20).items) == 20, name

    rows = {}
    for op in operations[ANCHOR]:
        a50 = quantile(samples[(ANCHOR, op)], 0.5)
        for name in stores:
            p50, p99 = quantile(samples[(name, op)], 0.5), quantile(samples[(name, op)], 0.99)
            ratio = "anchor" if name == ANCHOR else f"{p50 / a50:.0f}x"
            rows[f"{op:<30} {name:<21}"] = f"p50 {p50 * 1000:8.3f} ms  p99 {p99 * 1000:8.3f} ms  ({ratio})"
    report(f"store latency, N={N} per operation and store (ratio: p50 to SQLite's)", rows)
