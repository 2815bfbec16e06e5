"""A Distributed Map whose items and results outgrow one stored item (DynamoDB's 400 KB): its run
keeps them in chunk items beside the execution record, on SQLite and on DynamoDB (moto server)."""

from __future__ import annotations

import json
import uuid

import pytest

from pilothouse.ports import Item, Put
from pilothouse.repositories.execution_chunks import CHUNK_PREFIX, chunk_ids, load_state
from pilothouse.repositories.workflows import RECORD_SK, execution_pk
from pilothouse.services import map_runs
from tests.support.controlplane import drain
from tests.support.executions import Functions, describe, history, start, wf
from tests.support.stores import engine_services, use_moto_dynamodb

#: a hang guard, not a speed target: 100 child executions on moto's DynamoDB take minutes under load
pytestmark = pytest.mark.timeout(900)

ITEM_LIMIT = 400_000  # DynamoDB's item size limit (bytes)


@pytest.fixture(scope="module")
def moto():
    from tests.support.moto_server import MotoServer

    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("dynamodb", marks=pytest.mark.slow)])
def store_kind(request, env, monkeypatch):
    if request.param == "dynamodb":
        use_moto_dynamodb(monkeypatch, request.getfixturevalue("moto").url, "chunks")
    return request.param


@pytest.fixture
def fns(monkeypatch):
    return Functions(monkeypatch)


@pytest.fixture
def services(store_kind, clock, fns):
    return engine_services(clock, fns)


PAD = "x" * 2300
COUNT = 100


def definition() -> dict:
    """COUNT items of ~2.3 KB made by a Pass state (the execution input stays small), each
    answered by a child with a result as large: ~230 KB of items and ~230 KB of results."""
    return {
        "StartAt": "Make",
        "States": {
            "Make": {
                "Type": "Pass",
                "Parameters": {"items.$": f"States.ArrayRange(0, {COUNT - 1}, 1)"},
                "Next": "Fan",
            },
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemSelector": {"n.$": "$$.Map.Item.Value", "pad": PAD},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Work",
                    "States": {"Work": {"Type": "Task", "Resource": "work", "End": True}},
                },
                "MaxConcurrency": 50,
                "ResultSelector": {"count.$": "States.ArrayLength($)", "last.$": f"$[{COUNT - 1}].n"},
                "End": True,
            },
        },
    }


def _size(data: dict) -> int:
    return len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())


def test_a_map_run_larger_than_a_stored_item_succeeds(api, services, fns, pool, cloud):
    """Given a map run whose items and results together exceed 400 KB, when it runs, then it
    succeeds with every result, no stored item of the execution ever exceeds 400 KB while the
    record stays small, the chunks it leaves are exactly those its record names, and the history
    is the usual one."""
    pk = execution_pk("big", "one")
    largest = {"record": 0, "item": 0, "state": 0}
    calls: list[int] = []

    def work(p):
        calls.append(p["n"])
        if len(calls) % 5:  # look at the stored items every 5th child (a scan is slow on moto)
            return {"n": p["n"] * 2, "pad": p["pad"]}
        record = services.store.get(pk, RECORD_SK)
        stored = services.store.scan_all(pk)
        largest["record"] = max(largest["record"], _size(record.data))
        largest["item"] = max(largest["item"], *(_size(i.data) for i in stored))
        largest["state"] = max(largest["state"], _size(load_state(services.store, record)))
        return {"n": p["n"] * 2, "pad": p["pad"]}

    fns.fns["work"] = work
    wf(api, "big", definition())
    start(api, "big", {}, name="one")
    drain(services, pool, cloud)
    done = describe(api, "big", "one")
    assert done["status"] == "SUCCEEDED", done
    assert done["output"] == {"count": COUNT, "last": 2 * (COUNT - 1)}
    assert fns.calls["work"] == COUNT
    assert largest["state"] > ITEM_LIMIT  # inline, the record would have been refused
    assert largest["item"] < ITEM_LIMIT // 2 and largest["record"] < 60_000
    stored = services.store.scan_all(pk)
    record = next(i for i in stored if i.sk == RECORD_SK)
    chunks = {i.sk.removeprefix(CHUNK_PREFIX) for i in stored if i.sk.startswith(CHUNK_PREFIX)}
    assert chunks == set(chunk_ids(record.data["state"]))  # none left behind
    types = [e["type"] for e in history(api, "big", "one")]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert types.count("MapRunStarted") == 1 and types.count("MapRunSucceeded") == 1
    [described] = map_runs.describe_map_runs(services, "big", "one")
    assert described["status"] == "SUCCEEDED" and described["itemCounts"]["succeeded"] == COUNT


def test_steps_that_write_more_chunks_than_a_transaction_holds_stay_within_it(
    api, services, fns, pool, cloud, monkeypatch
):
    """Given chunks shrunk to ~2 KB (so the step that starts the map run must write ~40 chunks of
    items, and a harvest more of results), when the map run goes, then no transaction of the
    store ever holds more than 25 operations, the run succeeds with every result, the chunks a
    step wrote ahead of a commit that lost its race are gone, an orphan left by a killed worker
    (written for a step that committed without it) is dropped when the execution ends, and a
    chunk written for a step not yet committed is left alone."""
    from pilothouse.repositories import execution_chunks as ch
    from pilothouse.services import step_writes

    monkeypatch.setattr(ch, "SPILL_BYTES", 1_000)
    monkeypatch.setattr(ch, "CHUNK_BYTES", 2_000)
    monkeypatch.setattr(map_runs, "HARVEST_CHARS", 20_000)
    count = 40
    flow = definition()
    flow["States"]["Make"]["Parameters"] = {"items.$": f"States.ArrayRange(0, {count - 1}, 1)"}
    flow["States"]["Fan"]["ResultSelector"]["last.$"] = f"$[{count - 1}].n"
    pk = execution_pk("many", "one")
    largest = {"ops": 0, "ahead": 0, "lost": 0}
    store_cls = type(services.store)
    transact = store_cls.transact

    def counting(self, operations):
        largest["ops"] = max(largest["ops"], len(operations))
        return transact(self, operations)

    monkeypatch.setattr(store_cls, "transact", counting)
    write_ahead = step_writes.write_ahead

    def racing(svc, ahead):
        """Write ahead, then (once) lose the race: another step of the parent commits first."""
        write_ahead(svc, ahead)
        largest["ahead"] = max(largest["ahead"], len(ahead))
        if ahead and not largest["lost"]:
            largest["lost"] = 1
            record = svc.store.get(pk, RECORD_SK)
            svc.store.put(record, if_version=record.version)  # bumps the version under the step

    monkeypatch.setattr(step_writes, "write_ahead", racing)
    later = f"{10**9}.{uuid.uuid4().hex}"

    def work(p):
        if p["n"] == 0:  # a killed worker's orphan (for step 1, long committed) and a step in flight
            services.store.put(Item(pk, ch.chunk_sk(f"1.{uuid.uuid4().hex}"), {"items": [1]}))
            services.store.put(Item(pk, ch.chunk_sk(later), {"items": [2]}))
        return {"n": p["n"] * 2, "pad": p["pad"]}

    fns.fns["work"] = work
    wf(api, "many", flow)
    start(api, "many", {}, name="one")
    assert drain(services, pool, cloud) == []
    done = describe(api, "many", "one")
    assert done["status"] == "SUCCEEDED", done
    assert done["output"] == {"count": count, "last": 2 * (count - 1)}
    assert fns.calls["work"] == count
    assert largest["ahead"] > 0 and largest["lost"] == 1  # more than 25 in a step: some went ahead
    assert largest["ops"] <= 25
    stored = services.store.scan_all(pk)
    left = {i.sk.removeprefix(CHUNK_PREFIX) for i in stored if i.sk.startswith(CHUNK_PREFIX)}
    assert left == {later}


def test_a_result_writer_request_larger_than_a_stored_item_leaves_the_record(
    api, services, fns, pool, cloud, monkeypatch
):
    """Given a map run with a ResultWriter whose result files (every item's input and output) make
    the record's request larger than a stored item (shrunk to 20 KB for the test, as chunks are),
    when it runs, then the record keeps its head and names its body's pieces, no stored item
    exceeds the shrunk limit by more than a piece's margin, the result files are whole, and no
    piece or chunk is left behind."""
    from pilothouse.repositories import execution_bodies as bodies
    from pilothouse.repositories import execution_chunks as ch

    limit = 20_000
    for module, name, value in (
        (ch, "SPILL_BYTES", 4_000),
        (ch, "CHUNK_BYTES", 8_000),
        (bodies, "ITEM_BYTES", limit),
        (bodies, "PIECE_BYTES", limit),
        (bodies, "SLICE_CHARS", 2_000),
    ):
        monkeypatch.setattr(module, name, value)
    count = 15
    flow = definition()
    flow["States"]["Make"]["Parameters"] = {"items.$": f"States.ArrayRange(0, {count - 1}, 1)"}
    fan = flow["States"]["Fan"]
    del fan["ResultSelector"]
    fan["ResultWriter"] = {
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": "data", "Prefix": "out"},
    }
    pk = execution_pk("written", "one")
    split_seen: list[bool] = []
    largest = [0]
    store_cls = type(services.store)
    transact = store_cls.transact

    def watching(self, operations):
        for op in operations:
            if isinstance(op, Put) and op.item.pk == pk:
                largest[0] = max(largest[0], _size(op.item.data))
                if op.item.sk == RECORD_SK:
                    split_seen.append("body" in op.item.data)
        return transact(self, operations)

    monkeypatch.setattr(store_cls, "transact", watching)

    def work(p):
        return {"n": p["n"] * 2, "pad": p["pad"]}

    fns.fns["work"] = work
    wf(api, "written", flow)
    start(api, "written", {}, name="one")
    assert drain(services, pool, cloud) == []
    done = describe(api, "written", "one")
    assert done["status"] == "SUCCEEDED", done
    key = done["output"]["ResultWriterDetails"]["Key"]
    manifest = json.loads(services.blobs.get(map_runs.S3_ROOT + "data/" + key))
    [succeeded] = manifest["ResultFiles"]["SUCCEEDED"]
    entries = json.loads(services.blobs.get(map_runs.S3_ROOT + "data/" + succeeded["Key"]))
    assert sorted(json.loads(e["Output"])["n"] for e in entries) == [2 * i for i in range(count)]
    stored = services.store.scan_all(pk)
    assert max(_size(i.data) for i in stored) < limit + 5_000
    record = next(i for i in stored if i.sk == RECORD_SK)
    left = [i.sk for i in stored if i.sk.startswith((CHUNK_PREFIX, bodies.BODY_PREFIX))]
    assert sorted(left) == sorted(f"{bodies.BODY_PREFIX}{p}" for p in record.data.get("body") or [])
    assert any(split_seen)  # the record was in pieces while its result files were written
    assert largest[0] < limit + 5_000
