"""A Distributed Map over BENCH_DMAP_ITEMS (10,000) items: wall time and store writes, in memory
(the engine's runner over in-memory blobs) and on the durable executor (SQLite store and queue,
every child an execution of its own), with the durable Pass chain of test_bench_engine as the
anchor in the same run (ratio: time per item / time per state of a Pass chain, in memory and durable)."""

from __future__ import annotations

import json
import os
import time

import pytest

from pilothouse.blobs.memory import MemoryBlobs
from pilothouse.engine import run
from tests.support.bench import report

ITEMS = int(os.environ.get("BENCH_DMAP_ITEMS", "10000"))
CONCURRENCY = int(os.environ.get("BENCH_DMAP_CONCURRENCY", "1000"))


def definition() -> dict:
    return {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "Parameters": {"Bucket": "bench", "Key": "items.json"},
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Work",
                    "States": {"Work": {"Type": "Pass", "Parameters": {"id.$": "$.id"}, "End": True}},
                },
                "MaxConcurrency": CONCURRENCY,
                "ResultWriter": {
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {"Bucket": "bench", "Prefix": "out"},
                },
                "End": True,
            }
        },
    }


def items_json() -> bytes:
    return json.dumps([{"id": i, "name": f"item-{i}"} for i in range(ITEMS)]).encode()


class CountingStore:
    """Counts the items each write puts or deletes (a transaction counts all of its items)."""

    def __init__(self, store) -> None:
        self.store = store
        self.writes = 0

    def __getattr__(self, name):
        return getattr(self.store, name)

    def put(self, *a, **kw):
        self.writes += 1
        return self.store.put(*a, **kw)

    def delete(self, *a, **kw):
        self.writes += 1
        return self.store.delete(*a, **kw)

    def transact(self, ops, *a, **kw):
        self.writes += len(ops)
        return self.store.transact(ops, *a, **kw)


def _anchor(services, pool, cloud) -> float:
    """Seconds per state of a 100-state Pass chain on the durable executor."""
    from pilothouse.services import executions, workflows
    from tests.support.controlplane import drain
    from tests.support.executions import pass_chain

    workflows.create(services, "anchor", pass_chain(100), actor="bench")
    t = time.perf_counter()
    executions.start(services, "anchor", name="run", input={}, actor="bench")
    drain(services, pool, cloud, [services.settings.executions_queue])
    return (time.perf_counter() - t) / 100


@pytest.mark.slow
def test_distributed_map_over_10k_items(services, pool, cloud):
    from pilothouse.services import executions, map_runs, workflows
    from tests.support.controlplane import drain

    anchor = _anchor(services, pool, cloud)
    from tests.support.executions import pass_chain

    t = time.perf_counter()
    run(pass_chain(100), {}, invoke=lambda *a: None)
    anchor_mem = (time.perf_counter() - t) / 100

    blobs = MemoryBlobs()
    blobs.put("bench/items.json", items_json())
    t = time.perf_counter()
    mem = run(definition(), {}, invoke=lambda *a: None, blobs=blobs)
    t_mem = time.perf_counter() - t
    assert mem.status == "SUCCEEDED", mem.cause
    assert len(mem.children) == ITEMS

    counting = CountingStore(services.store)
    services.__dict__["store"] = counting  # the cached port, counted from here on
    services.blobs.put(map_runs.S3_ROOT + "bench/items.json", items_json())
    workflows.create(services, "fan", definition(), actor="bench")
    t = time.perf_counter()
    executions.start(services, "fan", name="run", input={}, actor="bench")
    queues = [services.settings.executions_queue, services.settings.tasks_queue]
    drain(services, pool, cloud, queues, limit=10_000_000)
    t_dur = time.perf_counter() - t
    done = executions.describe(services, "fan", "run")
    assert done["status"] == "SUCCEEDED", done
    manifest = json.loads(
        services.blobs.get(map_runs.S3_ROOT + "bench/" + done["output"]["ResultWriterDetails"]["Key"])
    )
    [succeeded] = manifest["ResultFiles"]["SUCCEEDED"]
    entries = json.loads(services.blobs.get(map_runs.S3_ROOT + "bench/" + succeeded["Key"]))
    assert len(entries) == ITEMS
    writes = getattr(services.store, "writes", None)
    report(
        f"Distributed Map over {ITEMS} items (MaxConcurrency {CONCURRENCY}, Pass child, ResultWriter)",
        {
            "anchors: Pass chain": f"memory {anchor_mem * 1000:.3f} ms/state, "
            f"durable {anchor * 1000:.2f} ms/state",
            "memory runner": f"{t_mem:.2f} s   ({t_mem / ITEMS * 1000:.3f} ms/item, "
            f"{t_mem / ITEMS / anchor_mem:.1f}x the memory anchor's state)",
            "durable SQLite": f"{t_dur:.2f} s   ({t_dur / ITEMS * 1000:.2f} ms/item, "
            f"{t_dur / ITEMS / anchor:.2f}x the durable anchor's state)   store items written: {writes} "
            f"({writes / ITEMS:.1f}/item)",
        },
    )
