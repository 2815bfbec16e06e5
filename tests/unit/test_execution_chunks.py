"""The chunked layout of a map run's items and results (pilothouse.repositories.execution_chunks)."""

from __future__ import annotations

import copy
import json

import pytest

from pilothouse.clock import ManualClock
from pilothouse.ports import Item, Put
from pilothouse.repositories import execution_chunks as ch
from pilothouse.store.memory import MemoryStore

PK = "EXECUTION#wf#one"


def state(n: int, *, results: list | None = None) -> dict:
    inputs = [{"i": i, "pad": "y" * 500} for i in range(n)]
    dmap = {"id": "run1", "stage": "children", "inputs": inputs, "results": results or [None] * n}
    return {"status": "RUNNING", "root": {"status": "RUNNING", "children": [{"dmap": dmap}]}}


def commit(store: MemoryStore, st: dict, before: Item | None) -> Item:
    head, puts, deletes = ch.pack_state(PK, st, before.data["state"] if before else None)
    ops = [Put(Item(PK, "RECORD", {"state": head}), if_version=before.version if before else None)]
    store.transact([*ops, *puts, *deletes])
    item = store.get(PK, "RECORD")
    assert item is not None
    return item


@pytest.fixture
def store():
    return MemoryStore(ManualClock())


def test_small_states_and_old_records_stay_inline(store):
    """Given a small map run (or a record written before chunking), it is stored and read as is."""
    small = state(3)
    head, puts, deletes = ch.pack_state(PK, small, None)
    assert head == small and puts == [] and deletes == []
    old = Item(PK, "RECORD", {"state": state(400)}, version=1)  # an old, all-inline record
    assert ch.load_state(store, old) == state(400)


def test_a_large_run_round_trips_and_rewrites_only_what_changed(store):
    """Given 400 items of ~500 bytes, they leave the record in chunks and read back equal; changing
    one item writes one new chunk and deletes the one it replaces (the small results stay inline)."""
    st = state(400)
    item = commit(store, st, None)
    assert len(json.dumps(item.data)) < 10_000
    assert ch.load_state(store, item) == st
    before = set(ch.chunk_ids(item.data["state"]))
    assert len(before) >= 3
    loaded = ch.load_state(store, item)
    loaded["root"]["children"][0]["dmap"]["inputs"][150] = {"i": 150, "pad": "z" * 500}
    loaded["root"]["children"][0]["dmap"]["results"][7] = {"s": "SUCCEEDED", "o": 14}
    head, puts, deletes = ch.pack_state(PK, loaded, item.data["state"])
    assert len(puts) == 1 and len(deletes) == 1
    item = commit(store, copy.deepcopy(loaded), item)
    assert ch.load_state(store, item) == loaded
    after = set(ch.chunk_ids(item.data["state"]))
    assert len(after - before) == 1 and len(before - after) == 1
    stored = {i.sk for i in store.scan_all(PK) if i.sk.startswith(ch.CHUNK_PREFIX)}
    assert stored == {ch.chunk_sk(c) for c in after}


def test_a_reader_of_a_replaced_record_is_told_to_read_again(store):
    """Given a record read before a later step replaced its chunks, loading it raises StateMoved
    (never a torn state), and the current record loads."""
    first = commit(store, state(200), None)
    ch._cache.texts.clear()
    changed = ch.load_state(store, first)
    changed["root"]["children"][0]["dmap"]["inputs"][0]["i"] = -1
    current = commit(store, changed, first)
    ch._cache.texts.clear()
    with pytest.raises(ch.StateMoved):
        ch.load_state(store, first)
    assert ch.load_state(store, current)["root"]["children"][0]["dmap"]["inputs"][0]["i"] == -1


def test_an_ended_map_run_drops_its_chunks(store):
    """Given a chunked run, when the state no longer has it, every chunk is deleted."""
    item = commit(store, state(300), None)
    ended = {"status": "SUCCEEDED", "root": {"status": "SUCCEEDED", "children": []}}
    head, puts, deletes = ch.pack_state(PK, ended, item.data["state"])
    assert head == ended and puts == []
    assert {d.sk for d in deletes} == {ch.chunk_sk(c) for c in ch.chunk_ids(item.data["state"])}


def test_orphans_are_the_unnamed_chunks_of_steps_already_committed(store):
    """Given a record at step 5 naming its chunks, an orphan written for step 3 (a lost race or a
    killed worker), one for step 6 (a step committing now) and an older id without a step, only
    the step-3 orphan is to be deleted; and new chunks' ids carry their step."""
    head, puts, _ = ch.pack_state(PK, state(200), None, 5)
    assert puts and all(p.item.sk.startswith(f"{ch.CHUNK_PREFIX}5.") for p in puts)
    store.transact([Put(Item(PK, "RECORD", {"state": head, "step": 5})), *puts])
    for chunk_id in ("3.aa", "6.bb", "cc"):
        store.put(Item(PK, ch.chunk_sk(chunk_id), {"items": []}))
    record = store.get(PK, "RECORD")
    assert [d.sk for d in ch.orphans(store, PK, record)] == [ch.chunk_sk("3.aa")]


DEFINITION = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"x": "y" * 200}, "End": True}}}


def test_a_started_execution_names_its_definition_and_every_step_keeps_naming_it(store):
    """Given an execution's state at its start (definition inline, as the engine makes it)
    When it is stored, read back and stored again by later steps (the definition inline again)
    Then the record names the definition, whose own item holds it once; a worker that never saw it
    reads it from that item; the same definition is the same item wherever it runs."""
    st = {"status": "RUNNING", "definition": copy.deepcopy(DEFINITION), "root": {"status": "RUNNING"}}
    head, puts = ch.pack_definition(PK, st)
    assert head["definition"] == {ch.DEF_REF: puts[0].item.sk.removeprefix(ch.DEF_PREFIX)}
    assert puts[0].item.data == {"definition": DEFINITION} and len(json.dumps(head)) < 200
    store.transact([Put(Item(PK, "RECORD", {"state": head})), *puts])
    record = store.get(PK, "RECORD")
    assert record is not None and ch.load_state(store, record)["definition"] == DEFINITION

    ch._definitions.clear()  # another worker: it reads the definition's item once
    loaded = ch.load_state(store, record)
    assert loaded["definition"] == DEFINITION and record.data["state"] == head  # the record untouched
    step = commit(store, {**loaded, "status": "SUCCEEDED"}, record)
    assert (
        step.data["state"]["definition"] == head["definition"] and step.data["state"]["status"] == "SUCCEEDED"
    )
    assert ch.pack_definition("EXECUTION#wf#two", st)[1][0].item.sk == puts[0].item.sk


def test_a_record_of_an_earlier_release_keeps_its_definition_inline(store):
    """Given a record written before definitions had their own item (inline), Then it reads as it
    is and its steps keep the definition inline (no migration)."""
    st = {"status": "RUNNING", "definition": copy.deepcopy(DEFINITION), "root": {"status": "RUNNING"}}
    old = commit(store, st, None)
    assert old.data["state"]["definition"] == DEFINITION
    step = commit(store, {**ch.load_state(store, old), "status": "SUCCEEDED"}, old)
    assert step.data["state"]["definition"] == DEFINITION
