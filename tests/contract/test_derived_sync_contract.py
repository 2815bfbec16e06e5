"""Derived entries (listing entries, the in-flight index) never go back to an older copy, on every
store of the store contract.

:func:`pilothouse.repositories.derived.sync` reads an entry, then the record, then writes the entry
on the condition that its version is unchanged since read. If an entry that stopped being called
for were deleted, the next one under its key would start again at version 1 and a slow sync holding
version 1 would land on it (ABA). These tests pause one sync right after a read (a store that runs
a hook then), let other writers remove and recreate the entry meanwhile, and check that the slow
sync's write does not land.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pilothouse.repositories.components import (
    INFLIGHT_PK,
    PK,
    RECORD_SK,
    ComponentRepository,
    component_pk,
)
from pilothouse.repositories.derived import TOMBSTONE_TTL, is_tombstone, listed, sync
from tests.support.component_records import EVENT, deployment_record, record
from tests.support.stores import KINDS, make_store


@pytest.fixture(params=KINDS)
def store(request, tmp_path, monkeypatch):
    endpoint = request.getfixturevalue("dynamodb_endpoint") if request.param == "dynamodb" else None
    s = make_store(request.param, tmp_path, monkeypatch, endpoint, transaction_scope="partition")
    yield s
    s.close()


class Paused:
    """A store that runs a hook right after a given item has been read (once per hook): what a
    sync does between its reads and its write is then up to the test. Everything else is the
    wrapped store's."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._hooks: dict[tuple[str, str], Callable[[], None]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def after_read(self, pk: str, sk: str, hook: Callable[[], None]) -> None:
        self._hooks[(pk, sk)] = hook

    def get(self, pk: str, sk: str) -> Any:
        item = self._store.get(pk, sk)
        hook = self._hooks.pop((pk, sk), None)
        if hook is not None:
            hook()
        return item


def live(store, pk: str, sk: str) -> Any:
    """The entry, None when absent or a tombstone."""
    item = store.get(pk, sk)
    return None if item is None or is_tombstone(item) else item


def test_a_slow_listing_sync_does_not_put_an_older_copy_over_a_recreated_entry(store):
    """Given a component whose update's listing sync read the entry (version 1) and the updated
    record, when, before it writes, the listing is brought up to date, the component is
    deregistered and registered again (a new entry under the same key), then the slow sync's
    write does not land: the listing copies the new record."""
    repo = ComponentRepository(store)
    paused = Paused(store)
    first = repo.create(record("web"), EVENT)

    def meanwhile() -> None:
        repo.reconcile("web")
        repo.remove(repo.require("web"), EVENT)
        repo.create(record("web"), EVENT)

    # the slow sync reads the listing (version 1), then the record the update wrote; then waits
    paused.after_read(PK, "web", lambda: paused.after_read(component_pk("web"), RECORD_SK, meanwhile))
    ComponentRepository(paused).update(first, record("web", op="op-1"), EVENT)

    now = repo.require("web")
    data, version = listed(live(store, PK, "web"))
    assert (data["state"], version) == ("Registered", now.version) and data == now.data
    assert [r.data for r in repo.all()] == [now.data]


def test_a_slow_listing_sync_of_a_removal_does_not_remove_the_recreated_entry(store):
    """Given a deregistration whose listing sync read the entry and found no record, when, before
    it writes, the name is registered again (a new entry under the same key), then the new entry
    stays: the component is listed."""
    repo = ComponentRepository(store)
    paused = Paused(store)
    first = repo.create(record("web"), EVENT)

    def meanwhile() -> None:
        repo.reconcile("web")
        repo.create(record("web"), EVENT)

    paused.after_read(PK, "web", lambda: paused.after_read(component_pk("web"), RECORD_SK, meanwhile))
    ComponentRepository(paused).remove(first, EVENT)

    assert [r.name for r in repo.all()] == ["web"]
    assert listed(live(store, PK, "web"))[0] == repo.require("web").data


def test_a_slow_inflight_sync_does_not_put_an_older_copy_over_a_recreated_entry(store):
    """Given a component moving from command op-1 to op-2 whose in-flight sync read the entry of
    op-1 (version 1) and the record of op-2, when, before it writes, op-2 ends and op-3 starts
    (a new entry under the same key), then the slow sync's write does not land: the entry names op-3."""
    repo = ComponentRepository(store)
    repo.backfill()
    paused = Paused(store)
    busy = repo.update(repo.create(record("web"), EVENT), record("web", op="op-1"), EVENT)

    def meanwhile() -> None:
        repo.reconcile("web")
        done = repo.update(repo.require("web"), record("web", state="Running"), EVENT)
        repo.update(done, record("web", op="op-3"), EVENT)

    paused.after_read(
        INFLIGHT_PK, "web", lambda: paused.after_read(component_pk("web"), RECORD_SK, meanwhile)
    )
    ComponentRepository(paused).update(busy, record("web", op="op-2"), EVENT)

    assert live(store, INFLIGHT_PK, "web").data == {"component": "web", "operation_id": "op-3"}
    assert [r.data["operation"]["id"] for r in repo.in_flight()] == ["op-3"]


def test_a_slow_inflight_sync_of_an_ended_command_does_not_remove_the_next_ones_entry(store):
    """Given a command that ended whose in-flight sync read the entry (version 1) and the record
    without a command, when, before it writes, the next command starts (a new entry under the
    same key), then that entry stays: the sweeps still find the component."""
    repo = ComponentRepository(store)
    repo.backfill()
    paused = Paused(store)
    busy = repo.update(repo.create(record("web"), EVENT), record("web", op="op-1"), EVENT)

    def meanwhile() -> None:
        repo.reconcile("web")
        repo.update(repo.require("web"), record("web", op="op-2"), EVENT)

    paused.after_read(
        INFLIGHT_PK, "web", lambda: paused.after_read(component_pk("web"), RECORD_SK, meanwhile)
    )
    ComponentRepository(paused).update(busy, record("web", state="Running"), EVENT)

    assert live(store, INFLIGHT_PK, "web").data == {"component": "web", "operation_id": "op-2"}
    assert [r.name for r in repo.in_flight()] == ["web"]


def test_tombstones_are_never_listed_and_expire(store):
    """Given five components of which three were deregistered (their entries now tombstones),
    when they are listed a page of one at a time, counted and swept, then only the two live ones
    show; a tombstone is gone once its time has passed, and the name registers again."""
    repo = ComponentRepository(store)
    repo.backfill()
    for name in "abcde":
        r = repo.create(record(name, op=f"op-{name}"), EVENT)
        repo.update(r, record(name, state="Running"), EVENT)  # an in-flight tombstone each
    for name in "abd":
        repo.remove(repo.require(name), EVENT)
    assert all(is_tombstone(store.get(PK, name)) for name in "abd")

    pages, cursor = [], None
    while True:
        page, cursor = repo.list(limit=1, cursor=cursor)
        pages.append([r.name for r in page])
        if cursor is None:
            break
    assert [n for p in pages for n in p] == ["c", "e"] and all(len(p) <= 1 for p in pages)
    assert [r.name for r in repo.list(limit=10)[0]] == ["c", "e"]
    assert [r.name for r in repo.all()] == ["c", "e"] == [r.name for r in repo.each(page_size=1)]
    assert repo.list(limit=10, name_prefix="a") == ([], None)
    assert repo.in_flight() == []

    store.clock.advance(TOMBSTONE_TTL + 1)
    assert store.get(PK, "a") is None and store.get(INFLIGHT_PK, "c") is None
    store.purge_expired()
    assert [r.name for r in repo.create(record("a"), EVENT) and repo.all()] == ["a", "c", "e"]


def test_deployment_and_execution_listings_skip_tombstones(store):
    """Given deployment and execution listings holding tombstones between live entries (records
    gone), when they are paged one at a time, then only the live entries show, in order."""
    from pilothouse.repositories.deployments import PK as DEPLOYMENTS
    from pilothouse.repositories.deployments import DeploymentRepository
    from pilothouse.repositories.workflows import ExecutionRepository, executions_pk

    deployments = DeploymentRepository(store)
    for i in range(4):
        deployments.create(deployment_record(f"d{i}"), {"type": "created"})
    for gone in ("d0", "d2", "d9"):  # records removed (or never there): their entries tombstones
        store.delete(f"DEPLOYMENT#{gone}", RECORD_SK)
        deployments.reconcile(gone)
    assert all(is_tombstone(store.get(DEPLOYMENTS, d)) for d in ("d0", "d2", "d9"))
    seen, cursor = [], None
    while True:
        page, cursor = deployments.list(limit=1, cursor=cursor, component=None, environment=None, status=None)
        assert len(page) <= 1
        seen += [d["id"] for d in page]
        if cursor is None:
            break
    assert seen == ["d3", "d1"]

    for name in ("a", "b", "c"):
        sync(store, executions_pk("w"), name, lambda n=name: {"name": n} if n != "b" else None)
    page = ExecutionRepository(store).page("w", limit=2, cursor=None)
    assert [i.sk for i in page.items] == ["a", "c"] and page.cursor is None


def test_a_forced_migration_takes_no_tombstone_for_a_record(store):
    """Given a migrated store whose listings hold tombstones (a deregistered component, a removed
    deployment), when every step of the migration is forced to run again, then no tombstone is
    moved as a record of the older layout: nothing comes back."""
    from pilothouse.repositories.deployments import PK as DEPLOYMENTS
    from pilothouse.services import migrations

    migrations.migrate(store)
    repo = ComponentRepository(store)
    repo.remove(repo.create(record("gone"), EVENT), EVENT)
    sync(store, DEPLOYMENTS, "d-gone", lambda: None)
    assert is_tombstone(store.get(PK, "gone")) and is_tombstone(store.get(DEPLOYMENTS, "d-gone"))
    store.delete(migrations.SCHEMA_PK, migrations.LAYOUT_SK)
    again = migrations.migrate(store)
    assert again["moved"]["components"] == 0 and again["moved"]["deployments"] == 0
    assert repo.get("gone") is None and store.get("DEPLOYMENT#d-gone", RECORD_SK) is None
    assert repo.all() == []


def test_racing_syncs_never_leave_an_older_copy(store):
    """Given one writer taking a component round and round (registered, a command, ended, another
    command, ended, deregistered) while four other threads sync its derived entries without rest
    (the dispatcher's reconciles), pausing at random after their reads, then whenever the writer
    stops to look (after each command starts, and after a third of its other commits, at random;
    once every sync under way has written) the listing copies the record exactly and the in-flight
    index names the pending command (its entry never missing, never another command's)."""
    if type(store).__name__ == "DynamoStore":
        pytest.skip("moto applies transactions without DynamoDB's atomicity (see the store contract)")
    import random
    import sys
    import threading
    import time

    repo = ComponentRepository(store)
    repo.backfill()
    stop = threading.Event()
    errors: list[BaseException] = []
    rng = random.Random()

    class Napping(Paused):
        """Syncs that pause now and then after a read: between their two reads (the entry's,
        then the record's) and between those and their write."""

        def get(self, pk: str, sk: str) -> Any:
            item = self._store.get(pk, sk)
            if rng.random() < 0.5:
                time.sleep(rng.uniform(0, 0.006))
            return item

    slow = ComponentRepository(Napping(store))

    def reconciler() -> None:
        try:
            while not stop.is_set():
                slow.reconcile("web")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def check(step: str, *, always: bool = False) -> None:
        if not always and rng.random() < 2 / 3:
            return  # carry on at once: other syncs still under way see the entries come and go
        time.sleep(0.015)  # every sync napping since before this commit has written by now
        truth = repo.get("web")
        entry = live(store, PK, "web")
        assert (listed(entry) if entry else None) == ((truth.data, truth.version) if truth else None), step
        op = truth.data["operation"] if truth else None
        index = live(store, INFLIGHT_PK, "web")
        if op:
            assert index is not None and index.data["operation_id"] == op["id"], step

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads take turns often: more interleavings per round
    threads = [threading.Thread(target=reconciler) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for n in range(120):
            r = repo.create(record("web"), EVENT)
            check(f"{n} created")
            for op in (f"op-{n}a", f"op-{n}b"):
                r = repo.update(r, record("web", op=op), EVENT)
                check(f"{n} {op} started", always=True)
                r = repo.update(r, record("web", state="Running"), EVENT)
                time.sleep(0.001)  # a slow sync that read the entry before this reads the record now
            repo.remove(r, EVENT)
            check(f"{n} removed")
    finally:
        stop.set()
        for t in threads:
            t.join()
        sys.setswitchinterval(switch)
    assert errors == []
