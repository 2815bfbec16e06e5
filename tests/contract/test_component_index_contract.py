"""The in-flight index of the component repository, on every store of the store contract.

A component with a pending command has an entry in ``COMPONENT_INFLIGHT``, derived from its record
right after each commit (the record's transaction keeps to its own partition); the sweeps read that
index instead of every component. Records written before the index existed are indexed once by a
backfill.
"""

from __future__ import annotations

import threading

import pytest

from pilothouse.errors import VersionConflict
from pilothouse.repositories.components import (
    INFLIGHT_INDEXED,
    INFLIGHT_PK,
    MIGRATION_PK,
    PK,
    RECORD_SK,
    ComponentRepository,
    component_pk,
)
from pilothouse.repositories.derived import is_tombstone, listing
from pilothouse.store import Item
from tests.support.component_records import EVENT, record
from tests.support.stores import KINDS, make_store


@pytest.fixture(params=[(kind, scope) for kind in KINDS for scope in ("partition", "store")], ids="-".join)
def store(request, tmp_path, monkeypatch):
    """Each store as strict as Azure Tables (the repository's transactions keep to one partition,
    the derived entries follow the commit), and as it is by default (one transaction writes them
    with the record: pilothouse.repositories.derived.commit)."""
    kind, scope = request.param
    endpoint = request.getfixturevalue("dynamodb_endpoint") if kind == "dynamodb" else None
    s = make_store(kind, tmp_path, monkeypatch, endpoint, transaction_scope=scope)
    yield s
    s.close()


def seed(store, name: str, data: dict) -> None:
    """A record and its listing entry as a store from before the in-flight index holds them."""
    written = store.put(Item(component_pk(name), RECORD_SK, data))
    store.put(Item(PK, name, listing(data, written.version)))


def indexed(store) -> list[str]:
    """The components the index names (tombstones of ended commands skipped)."""
    return [i.sk for i in store.scan_all(INFLIGHT_PK) if not is_tombstone(i)]


def test_the_entry_follows_the_pending_command_right_after_the_commit(store):
    """Given a registered component, when a command is recorded, then it is indexed; when a write
    conditioned on a stale version fails, then the index is unchanged; when the command ends,
    then the entry is gone, and deregistering leaves none."""
    repo = ComponentRepository(store)
    r = repo.create(record("web"), EVENT)
    repo.create(record("db"), EVENT)
    assert indexed(store) == []
    busy = repo.update(r, record("web", op="op-1"), EVENT)
    assert indexed(store) == ["web"]
    assert store.get(INFLIGHT_PK, "web").data == {"component": "web", "operation_id": "op-1"}
    with pytest.raises(VersionConflict):
        repo.update(r, record("web"), EVENT)  # stale: nothing of it lands
    assert indexed(store) == ["web"]
    assert [x.name for x in repo.in_flight()] == ["web"]
    done = repo.update(busy, record("web", state="Running"), EVENT)
    assert indexed(store) == [] and repo.in_flight() == []
    repo.remove(done, EVENT)
    assert indexed(store) == []


def test_records_from_before_the_index_are_backfilled_once(store):
    """Given records with pending commands written before the index existed (straight to the
    store), when the in-flight components are first read, then they are found and the store is
    marked indexed; a second read uses the index alone."""
    repo = ComponentRepository(store)
    for name, op in (("a", "op-a"), ("b", None), ("c", "op-c")):
        seed(store, name, record(name, op=op))
    assert store.get(MIGRATION_PK, INFLIGHT_INDEXED) is None
    assert [x.name for x in repo.in_flight()] == ["a", "c"]
    assert indexed(store) == ["a", "c"]
    assert store.get(MIGRATION_PK, INFLIGHT_INDEXED) is not None
    assert repo.backfill() == 0  # nothing left to index; running it again is harmless
    assert [x.name for x in repo.in_flight()] == ["a", "c"]


def test_a_stale_entry_is_dropped_on_read(store):
    """Given an entry whose record no longer has a pending command (a write that bypassed the
    repository), when the in-flight components are read, then it is not one and its entry goes."""
    repo = ComponentRepository(store)
    repo.backfill()
    r = repo.create(record("web"), EVENT)
    repo.update(r, record("web", op="op-1"), EVENT)
    store.put(Item(component_pk("web"), RECORD_SK, record("web", state="Running")))  # bypasses the repository
    store.put(Item(INFLIGHT_PK, "gone", {"component": "gone", "operation_id": "x"}))
    assert repo.in_flight() == []
    assert indexed(store) == []


@pytest.mark.parametrize("rounds", [3])
def test_backfill_racing_writers_leaves_the_index_exact(store, rounds):
    """Given 40 unindexed records, when a backfill runs while writers start and end commands on
    them, then afterwards the index names exactly the records that have a pending command."""
    if type(store).__name__ == "DynamoStore":
        pytest.skip("moto applies transactions without DynamoDB's atomicity (see the store contract)")
    repo = ComponentRepository(store)
    names = [f"c{i:02d}" for i in range(40)]
    for i, name in enumerate(names):
        seed(store, name, record(name, op=f"op-{i}" if i % 2 else None))
    go = threading.Barrier(3)

    def writer(offset: int) -> None:
        go.wait()
        for r in range(rounds):
            for name in names[offset::2]:
                current = repo.get(name)
                assert current is not None
                new = record(name, op=None if current.data["operation"] else f"{name}-{r}")
                try:
                    repo.update(current, new, EVENT)
                except VersionConflict:
                    continue

    threads = [threading.Thread(target=writer, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    go.wait()
    repo.backfill()
    for t in threads:
        t.join()
    expected = sorted(x.name for x in repo.all() if x.data["operation"])
    assert indexed(store) == expected
