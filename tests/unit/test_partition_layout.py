"""One-partition transactions (issue 15 §1): every write of a component, deployment, execution and
audit record keeps its transaction inside one partition; the derived records (listings, the
in-flight and running indexes, the outbox's dispatch markers, the audit's day list) follow after
the commit or before it, and a crash in between is repaired by a sweep.

Every store here is as strict as Azure Tables (``transaction_scope="partition"``)."""

from __future__ import annotations

import pytest

from pilothouse.clock import ManualClock
from pilothouse.repositories.components import (
    INFLIGHT_PK,
    PK,
    RECORD_SK,
    ComponentRepository,
    component_pk,
)
from pilothouse.repositories.derived import is_tombstone, live
from pilothouse.repositories.outbox import MARK_GRACE, OutboxRepository, dirty_pk, shard_of
from pilothouse.settings import Settings
from pilothouse.wiring import Services
from tests.support.component_records import EVENT, deployment_record, race_commands, record


@pytest.fixture
def services() -> Services:
    s = Services(
        Settings(store="memory", queue="memory", blobs="memory", store_transaction_scope="partition"),
        ManualClock(1_800_000_000.0),
    )
    assert s.store.transaction_scope == "partition"
    return s


def _listing_matches_records(store) -> None:
    repo = ComponentRepository(store)
    for listed in repo.all():
        truth = repo.get(listed.name)
        assert truth is not None and (truth.data, truth.version) == (listed.data, listed.version)
    names = {r.name for r in repo.all()}
    inflight = {i.sk for i in store.scan_all(INFLIGHT_PK) if not is_tombstone(i)}
    assert inflight == {n for n in names if repo.get(n).data["operation"]}  # type: ignore[union-attr]


def test_a_crash_between_the_commit_and_its_derived_writes_is_repaired_by_the_dispatcher(
    services, monkeypatch
):
    """Given a component command whose process dies right after its transaction committed (the
    listing and in-flight entries not written), When the event feed's dispatcher runs, Then it
    finds the partition through the marker written before the commit, brings the listing and the
    in-flight index in step, dispatches the event, and drops the marker once it is older than the
    grace (not before: its writer might still be committing)."""
    repo = ComponentRepository(services.store)
    web = repo.create(record("web"), EVENT)
    from pilothouse.services import event_feed

    event_feed.dispatch(services)

    def dies(self, name):
        raise RuntimeError("killed after the commit")

    monkeypatch.setattr(ComponentRepository, "reconcile", dies)
    with pytest.raises(RuntimeError):
        repo.update(web, record("web", op="op-1"), EVENT)
    monkeypatch.undo()
    assert repo.get("web").data["operation"]["id"] == "op-1"  # committed
    assert repo.all()[0].data["operation"] is None  # the listing lags
    assert live(services.store.get(INFLIGHT_PK, "web")) is None  # and the sweeps' index too

    assert event_feed.dispatch(services)["events"] == 1
    _listing_matches_records(services.store)
    assert [r.name for r in repo.in_flight()] == ["web"]
    markers = services.store.scan_all(dirty_pk(shard_of("web")))
    assert [m.sk for m in markers] == [component_pk("web")]  # drained, but young: kept
    services.clock.advance(MARK_GRACE + 1)
    assert event_feed.dispatch(services)["events"] == 0
    assert services.store.scan_all(dirty_pk(shard_of("web"))) == []


def test_a_marker_written_again_meanwhile_is_kept(services):
    """Given a drained marker older than the grace, When its partition is marked again (a new
    writer) after the dispatcher read it, Then the dispatcher's delete does not land."""
    repo = ComponentRepository(services.store)
    repo.create(record("web"), EVENT)
    outbox = OutboxRepository(services.store)
    services.clock.advance(MARK_GRACE + 1)
    (marker,) = outbox.dirty(shard_of("web"))
    from pilothouse.repositories.outbox import mark_dirty

    mark_dirty(services.store, component_pk("web"), subject="web")
    assert outbox.clean(marker) is False
    assert [m.sk for m in outbox.dirty(shard_of("web"))] == [component_pk("web")]


def test_a_stale_writer_never_puts_back_an_older_listing(services):
    """Given a writer that committed version 2 but is slow to write its listing entry, and a later
    writer that committed version 3 and wrote its entry, When the slow one finally syncs, Then the
    entry stays at version 3 (sync reads the entry first, then the record)."""
    repo = ComponentRepository(services.store)
    r1 = repo.create(record("web"), EVENT)
    r2 = repo.update(r1, record("web", op="op-1"), EVENT)
    repo.update(r2, record("web", state="Running"), EVENT)
    repo.reconcile("web")  # the slow writer's sync, late
    (listed,) = repo.all()
    assert listed.version == 3 and listed.data["state"] == "Running"
    assert live(services.store.get(INFLIGHT_PK, "web")) is None


def test_racing_commands_keep_every_listing_and_index_exact(services):
    """Given 8 threads racing commands (start, end, deregister, register again) on 6 components,
    Then each command either lands with its event or conflicts; right away no component with a
    pending command lacks its in-flight entry and in_flight() names exactly them; and once the
    dispatcher has reconciled the marked partitions (a slow writer may have added an entry its
    record no longer calls for), every listing entry equals its record and the index is exact."""
    repo = ComponentRepository(services.store)
    names = [f"c{i}" for i in range(6)]
    race_commands(repo, names)
    pending = {n for n in names if (r := repo.get(n)) is not None and r.data["operation"]}
    indexed = {i.sk for i in services.store.scan_all(INFLIGHT_PK) if not is_tombstone(i)}
    assert pending <= indexed  # never a missing entry
    assert {r.name for r in repo.in_flight()} == pending
    from pilothouse.services import event_feed

    event_feed.dispatch(services)
    _listing_matches_records(services.store)
    listed = {r.name for r in repo.all()}
    assert listed == {n for n in names if services.store.get(component_pk(n), RECORD_SK)}


def test_every_repository_write_keeps_to_one_partition(services):
    """Given the store refuses any transaction across partitions, Then component, deployment,
    execution and audit writes, the dispatcher and the sweeps all work (each of them would raise
    TransactionScopeError otherwise)."""
    from pilothouse.repositories.deployments import DeploymentRepository
    from pilothouse.services import audit, audit_verify, event_feed, execution_steps, executions, workflows

    repo = ComponentRepository(services.store)
    web = repo.create(record("web"), EVENT)
    web = repo.update_with_events(web, record("web", op="op-9"), [EVENT, EVENT])
    repo.update_with_events(web, None, [EVENT])
    deployments = DeploymentRepository(services.store)
    deployments.create(deployment_record("d1"), {"type": "created"})
    deployments.change(
        "d1", lambda d: d.update(status="succeeded") or {"type": "done", "status": "succeeded"}
    )
    assert [
        d["status"]
        for d in deployments.list(limit=5, cursor=None, component=None, environment=None, status=None)[0]
    ] == ["succeeded"]
    workflows.create(
        services, "hello", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, actor="t"
    )
    workflows.update(
        services, "hello", {"StartAt": "Q", "States": {"Q": {"Type": "Pass", "End": True}}}, actor="t"
    )
    executions.start(services, "hello", name="e1", input={}, actor="t")
    for _ in range(3):
        execution_steps.apply_step(services, "hello", "e1", None)
    assert executions.describe(services, "hello", "e1")["status"] == "SUCCEEDED"
    assert [e["status"] for e in executions.list_executions(services, "hello")[0]] == ["SUCCEEDED"]
    assert execution_steps.sweep(services) is not None
    for n in range(3):
        audit.record(services, principal="p", operation="o", target=None, request_id=f"r{n}", status=200)
    audit.record(services, principal="anonymous", operation="o", target=None, request_id="a", status=401)
    audit.record(services, principal="anonymous", operation="o", target=None, request_id="b", status=401)
    assert audit_verify.verify(services)["ok"]
    repo.remove(repo.require("web"), EVENT)
    assert event_feed.dispatch(services)["failed"] == 0
    assert live(services.store.get(PK, "web")) is None  # a tombstone: its version goes on rising
