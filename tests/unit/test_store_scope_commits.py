"""Derived entries written inside the record's transaction (``pilothouse.repositories.derived.commit``).

Where a store's transactions span partitions (SQLite, DynamoDB and Firestore by default; the test
suite narrows every store to one partition, see tests/unit/test_partition_layout.py for that
path), a component's or deployment's transaction also writes its dirty marker, its listing entry
and its in-flight entry: one transaction instead of a marker write, the commit and two syncs, and
no moment when a listing lags its record."""

from __future__ import annotations

import pytest

from pilothouse.clock import ManualClock
from pilothouse.errors import AlreadyExists, VersionConflict
from pilothouse.repositories.components import INFLIGHT_PK, ComponentRepository, component_pk
from pilothouse.repositories.deployments import DeploymentRepository
from pilothouse.repositories.derived import is_tombstone
from pilothouse.repositories.outbox import OutboxRepository, dirty_pk, shard_of
from pilothouse.settings import Settings
from pilothouse.wiring import Services
from tests.support.component_records import EVENT, deployment_record, race_commands, record


@pytest.fixture(params=["memory", "sqlite"])
def services(request, tmp_path) -> Services:
    settings = Settings(
        store=request.param,
        queue="memory",
        blobs="memory",
        data_dir=tmp_path,
        store_transaction_scope="store",
    )
    s = Services(settings, ManualClock(1_800_000_000.0))
    assert s.store.transaction_scope == "store"
    yield s
    s.close()


def _exact(store) -> None:
    """Every listing entry equals its record, every record is listed, and the in-flight index
    names exactly the components with a pending command."""
    repo = ComponentRepository(store)
    listed = {r.name: r for r in repo.all()}
    for name, entry in listed.items():
        truth = repo.get(name)
        assert truth is not None and (truth.data, truth.version) == (entry.data, entry.version)
    assert {i.sk for i in store.scan_all(INFLIGHT_PK) if not is_tombstone(i)} == {
        n for n, r in listed.items() if r.data["operation"]
    }


def test_one_transaction_writes_the_record_its_marker_and_its_entries(services, monkeypatch):
    """Given a store whose transactions span partitions, When a component is registered, given a
    command, and deregistered, Then each change is one transaction (no sync runs after it), the
    listing and the in-flight index are exact right after each, and the dispatcher finds the
    events through the marker written in that transaction."""
    store = services.store
    assert ComponentRepository(store).in_flight() == []  # the index's one-off backfill, done
    calls: list[int] = []
    real = type(store).transact

    def counted(self, operations):
        calls.append(len(operations))
        return real(self, operations)

    monkeypatch.setattr(type(store), "transact", counted)
    monkeypatch.setattr(ComponentRepository, "reconcile", lambda self, name: pytest.fail("synced"))
    repo = ComponentRepository(store)
    web = repo.create(record("web"), EVENT)
    _exact(store)
    busy = repo.update(web, record("web", op="op-1"), EVENT)
    _exact(store)
    assert [r.name for r in repo.in_flight()] == ["web"]
    done = repo.update(busy, record("web", state="Running"), EVENT)
    _exact(store)
    assert calls == [5, 6, 6]  # one transaction a change (3 + marker + listing [+ index entry])
    assert [m.sk for m in store.scan_all(dirty_pk(shard_of("web")))] == [component_pk("web")]
    monkeypatch.undo()
    from pilothouse.services import event_feed

    assert event_feed.dispatch(services)["events"] == 3
    repo.remove(done, EVENT)
    _exact(store)
    assert repo.all() == [] and all(is_tombstone(i) for i in store.scan_all(INFLIGHT_PK))
    assert OutboxRepository(store).entries(component_pk("web")) != []  # the removal's event waits


def test_a_refused_change_writes_nothing_derived(services):
    """Given a change conditioned on a stale version, When it is refused, Then neither the record
    nor its listing, index entry or marker moved."""
    repo = ComponentRepository(services.store)
    web = repo.create(record("web"), EVENT)
    repo.update(web, record("web", op="op-1"), EVENT)
    before = sorted((i.pk, i.sk, i.version) for i in services.store.scan())
    with pytest.raises(VersionConflict):
        repo.update(web, record("web", op="op-2"), EVENT)
    with pytest.raises(AlreadyExists):
        repo.create(record("web"), EVENT)
    assert sorted((i.pk, i.sk, i.version) for i in services.store.scan()) == before
    _exact(services.store)


def test_deployment_listing_is_written_with_its_record(services, monkeypatch):
    """Given a store whose transactions span partitions, When a deployment is created and changed,
    Then its listing entry equals its record right after each change (no sync runs)."""
    from pilothouse.repositories.deployments import PK

    monkeypatch.setattr(DeploymentRepository, "reconcile", lambda self, d: pytest.fail("synced"))
    repo = DeploymentRepository(services.store)
    data = deployment_record("dep-1", status="Pending", at="2027-01-15T08:00:00.000Z")
    repo.create(data, {"type": "DeploymentCreated"})

    def listed_is_record() -> str:
        truth, entry = repo.get("dep-1"), services.store.get(PK, "dep-1")
        assert truth is not None and entry is not None
        assert entry.data == {"record": truth.data, "record_version": truth.version}
        return truth.data["status"]

    assert listed_is_record() == "Pending"

    def succeed(d):
        d["status"] = "Succeeded"
        return {"type": "DeploymentSucceeded"}

    repo.change("dep-1", succeed)
    assert listed_is_record() == "Succeeded"


def test_racing_commands_keep_every_listing_and_index_exact_at_once(services):
    """Given 8 threads racing commands (start, end, deregister, register again) on 6 components,
    Then each command lands whole or conflicts, and right away (no dispatcher run) every listing
    entry equals its record and the in-flight index is exact."""
    repo = ComponentRepository(services.store)
    names = [f"c{i}" for i in range(6)]
    race_commands(repo, names)
    _exact(services.store)
    listed = {r.name for r in repo.all()}
    assert listed == {n for n in names if repo.get(n) is not None}


def test_an_execution_starts_with_its_running_and_listing_entries_in_one_transaction(services, monkeypatch):
    """Given a store whose transactions span partitions, When an execution starts, Then its record,
    first history, definition, running entry and listing entry are one transaction (no sync reads after it),
    the listing entry is the record's summary, and starting it again by name returns it."""
    from pilothouse.repositories.workflows import RUNNING, executions_pk, running_sk, summary
    from pilothouse.services import executions, workflows

    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    workflows.create(services, "wf", definition, actor="t")
    store = services.store
    calls: list[int] = []
    real = type(store).transact

    def counted(self, operations):
        calls.append(len(operations))
        return real(self, operations)

    monkeypatch.setattr(type(store), "transact", counted)
    monkeypatch.setattr("pilothouse.repositories.workflows.sync", lambda *a, **k: pytest.fail("synced"))
    executions.start(services, "wf", name="run-1", input={"a": 1}, actor="t")
    assert calls == [5]  # record, first history, its definition, running entry, listing entry
    monkeypatch.undo()

    record = executions.repo(services).get("wf", "run-1")
    assert record is not None and store.get(RUNNING, running_sk("wf", "run-1")) is not None
    entry = store.get(executions_pk("wf"), "run-1")
    assert entry is not None and entry.data == summary(record.data)
    again = executions.start(services, "wf", name="run-1", input={"a": 1}, actor="t")
    assert again["name"] == "run-1" and again["status"] == "RUNNING"


def test_racing_starts_of_one_execution_name_create_it_once(services):
    """Given 8 threads starting the same execution name at once (a redelivered job's start racing
    the first), Then one start creates it and every caller gets that execution; its record, its
    definition, its running entry and its listing entry are each there once, the entry its
    record's summary."""
    import threading

    from pilothouse.repositories.execution_chunks import DEF_PREFIX
    from pilothouse.repositories.workflows import RUNNING, execution_pk, executions_pk, running_sk, summary
    from pilothouse.services import executions, workflows

    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    workflows.create(services, "wf", definition, actor="t")
    barrier, answers, errors = threading.Barrier(8), [], []

    def start() -> None:
        barrier.wait()
        try:
            answers.append(executions.start(services, "wf", name="run-1", input={"a": 1}, actor="t"))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(answers) == 8
    assert {a["execution_arn"] for a in answers} == {answers[0]["execution_arn"]}
    store = services.store
    record = executions.repo(services).get("wf", "run-1")
    assert record is not None and record.version == 1
    assert len([i for i in store.scan_all(execution_pk("wf", "run-1")) if i.sk.startswith(DEF_PREFIX)]) == 1
    assert [i.sk for i in store.scan_all(RUNNING)] == [running_sk("wf", "run-1")]
    [entry] = store.scan_all(executions_pk("wf"))
    assert entry.sk == "run-1" and entry.data == summary(record.data)
