"""Large execution records and history items stored in pieces (pilothouse.repositories.execution_bodies)."""

from __future__ import annotations

import json

import pytest

from pilothouse.clock import ManualClock
from pilothouse.ports import Item, Put
from pilothouse.repositories import execution_bodies as bodies
from pilothouse.repositories.execution_chunks import StateMoved
from pilothouse.store.memory import MemoryStore

PK = "EXECUTION#wf#one"
BIG = {"pad": '"\\' * 100_000 + "\x01" * 20_000}  # escapes to ~520 KB once, more inside a string


def record(**extra) -> dict:
    return {"status": "RUNNING", "step": 3, "task_leases": {}, "state": {"input": BIG}, "input": BIG, **extra}


def commit(store: MemoryStore, data: dict, before: Item | None) -> Item:
    head, puts, gone = bodies.split(PK, data, data["step"])
    put = Put(Item(PK, "RECORD", head), if_version=before.version if before else None)
    store.transact([put, *puts, *gone])
    item = store.get(PK, "RECORD")
    assert item is not None
    return item


def _size(data: dict) -> int:
    return len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())


@pytest.fixture
def store():
    return MemoryStore(ManualClock())


def test_an_unwatched_record_is_stored_whole_and_a_watched_small_one_too(store):
    """Given a record whose events carried little text, it is stored as it is (never measured);
    a watched one that is small is stored whole as well."""
    assert bodies.split(PK, record(), 4) == (record(), [], [])
    small = {"status": "RUNNING", "step": 1, "state": {}, "text_seen": bodies.WATCH_CHARS}
    assert bodies.split(PK, small, 2) == (small, [], [])


def test_a_large_record_keeps_its_head_and_reads_back_whole(store):
    """Given a watched record far over the item limit, its head (no state, input or output) names
    pieces each under the limit, it reads back equal, and the next step's write replaces every
    piece and deletes those it replaced."""
    data = record(text_seen=10**6)
    item = commit(store, data, None)
    assert set(item.data) == {"status", "step", "task_leases", "text_seen", "body"}
    pieces = [i for i in store.scan_all(PK) if i.sk.startswith(bodies.BODY_PREFIX)]
    assert len(pieces) >= 2 and max(_size(i.data) for i in pieces) < 400_000
    whole = bodies.join(store, item)
    assert {k: v for k, v in whole.data.items() if k != "body"} == data
    nxt = commit(store, {**whole.data, "step": 4, "output": {"n": 1}}, item)
    left = {i.sk for i in store.scan_all(PK) if i.sk.startswith(bodies.BODY_PREFIX)}
    assert left == {f"{bodies.BODY_PREFIX}{p}" for p in nxt.data["body"]}
    assert all(p.startswith("4.") for p in nxt.data["body"])
    assert bodies.read(store, PK, "RECORD").data["output"] == {"n": 1}


def test_a_reader_of_a_replaced_record_is_told_to_read_again(store):
    """Given a large record read before the next step replaced it, joining it raises StateMoved
    (never a torn record), and reading again gives the current one."""
    first = commit(store, record(text_seen=10**6), None)
    bodies._cache.texts.clear()
    commit(store, {**bodies.join(store, first).data, "step": 4, "input": {"small": True}}, first)
    bodies._cache.texts.clear()
    with pytest.raises(StateMoved):
        bodies.join(store, first)
    assert bodies.read(store, PK, "RECORD").data["input"] == {"small": True}


def test_a_large_history_item_names_its_pieces(store):
    """Given the events of a step over the item limit, their item names pieces under it and
    reads back equal; small events stay inline even when watched."""
    events = [
        {"id": 5, "type": "ExecutionStarted", "executionStartedEventDetails": {"input": json.dumps(BIG)}}
    ]
    writes = bodies.history_writes(PK, "HIST#00000005", events, watch=True)
    assert len(writes) >= 3 and all(_size(w.item.data) < 400_000 for w in writes)
    store.transact(writes)
    item = store.get(PK, "HIST#00000005")
    assert "events" not in item.data and bodies.events_of(store, item) == events
    small = [{"id": 6, "type": "PassStateEntered", "stateEnteredEventDetails": {"input": "{}"}}]
    assert bodies.history_writes(PK, "HIST#00000006", small, watch=True) == [
        Put(Item(PK, "HIST#00000006", {"events": small}), if_absent=True)
    ]
    assert bodies.event_chars(events) == len(json.dumps(BIG))
