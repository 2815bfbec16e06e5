"""The store layout migration (issue 15 §1): a store written by the release before per-entity
partitions (``tests/support/layout_v1.jsonl``: audit records of two days with their heads in
``AUDIT-HEAD``, components with their events in ``EVENTS#<name>``, a deregistered one's history, a
deployment and its events, executions with their history, outbox entries) reads and works after
``migrate``, on a SQLite file and on DynamoDB (a moto server); the migration is idempotent and
resumable, and afterwards every transaction keeps to one partition.

The fixture was written by that release's own code (the components, deployments, workflows,
executions and audit services on a memory store), exported item for item."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pilothouse.clock import ManualClock
from pilothouse.ports import Item
from pilothouse.services import audit_verify, migrations
from pilothouse.settings import Settings
from pilothouse.wiring import Services
from tests.support.moto_server import REGION, MotoServer

FIXTURE = Path(__file__).resolve().parents[1] / "support" / "layout_v1.jsonl"
#: the fixture's clock: a day after its first audit records
START = 1_796_000_000.0 + 86400 + 60


def _old_items() -> list[Item]:
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]
    return [Item(r["pk"], r["sk"], r["data"], r["version"], r["expires_at"]) for r in rows]


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "dynamodb"])
def services(request, tmp_path, monkeypatch) -> Iterator[Services]:
    """Services on a store holding the older layout, as strict as Azure Tables about transactions."""
    clock = ManualClock(START)
    if request.param == "sqlite":
        settings = Settings(
            store="sqlite",
            queue="memory",
            blobs="memory",
            data_dir=tmp_path / "data",
            store_transaction_scope="partition",
        )
    else:
        server = request.getfixturevalue("moto_server")
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        settings = Settings(
            store="dynamodb",
            queue="memory",
            blobs="memory",
            table_name=f"layout-{uuid.uuid4().hex[:10]}",
            create_resources=True,
            data_dir=tmp_path / "data",
            store_transaction_scope="partition",
        )
    s = Services(settings, clock)
    s.store.load(_old_items())
    yield s
    s.close()


def _snapshot(store) -> dict[tuple[str, str], tuple[dict, int]]:
    return {(i.pk, i.sk): (i.data, i.version) for i in store.scan()}


def test_the_older_layout_reads_and_works_after_the_migration(services):
    """Given a store in the older layout, When it is migrated, Then components, their events (a
    deregistered one's too), the deployment and its events, executions and their history, and the
    audit chain read as before; nothing of the older partitions is left but the outbox; and new
    writes (a component command, an audit record, a deployment change, an execution step) work
    with transactions inside one partition."""
    from pilothouse.repositories.deployments import DeploymentRepository
    from pilothouse.services import audit, components, event_feed, execution_steps, executions

    assert migrations.layout_version(services.store) == 1
    done = migrations.migrate(services.store)
    assert done["from"] == 1 and done["to"] == migrations.LAYOUT_VERSION
    assert done["moved"]["components"] == 2 and done["moved"]["deployments"] == 1
    assert done["moved"]["executions"] == 2 and done["moved"]["audit_heads"] == 2
    assert migrations.layout_version(services.store) == migrations.LAYOUT_VERSION
    left = {i.pk.split("#", 1)[0] for i in services.store.scan()}
    assert not left & {"EVENTS", "DEPLOYEVENTS", "EXECHIST", "AUDIT-HEAD"}

    web = components.get(services, "web")
    assert web.state == "Deploying" and web.data["operation"]["id"] == "op-1"
    listed, _ = components.list_components(services)
    assert sorted(c["name"] for c in listed) == ["db", "web"]
    history, _ = components.events(services, "web")
    assert [e["type"] for e in history] == ["registered", "deploy"]
    gone, _ = components.events(services, "gone")
    assert [e["type"] for e in gone] == ["registered", "deregistered"]
    from pilothouse.repositories.components import ComponentRepository

    assert [r.name for r in ComponentRepository(services.store).in_flight()] == ["web"]

    deployments = DeploymentRepository(services.store)
    assert deployments.require("0001-ab").data["status"] == "succeeded"
    assert [e["type"] for e in deployments.events("0001-ab", limit=10, cursor=None)[0]] == [
        "created",
        "finished",
    ]
    page, _ = deployments.list(limit=10, cursor=None, component="web", environment=None, status=None)
    assert [d["id"] for d in page] == ["0001-ab"]

    assert sorted(e["name"] for e in executions.list_executions(services, "hello")[0]) == ["e1", "e2"]
    assert executions.history(services, "hello", "e1")[0]

    report = audit_verify.verify(services)
    assert report["ok"] and report["days"] == 2 and report["records"] == 5

    # new writes on the migrated store: each transaction inside one partition (the store refuses more)
    record = components.get(services, "db")
    ComponentRepository(services.store).update(
        record, {**record.data, "state": "Deploying"}, {"type": "deploy"}
    )
    assert components.get(services, "db").state == "Deploying"
    sealed = audit.record(
        services,
        principal="key:k1",
        operation="stop_component",
        target="component:web",
        request_id="n1",
        status=202,
    )
    assert sealed["seq"] == 3 and sealed["shard"] == "2026-12-01"
    assert audit_verify.verify(services)["ok"]
    services.clock.advance(3600)
    for _ in range(5):  # the wait ends, then the Pass state (a step may stop at the state budget)
        if (execution_steps.apply_step(services, "hello", "e1", None) or {}).get("status") != "RUNNING":
            break
    assert executions.describe(services, "hello", "e1")["status"] == "SUCCEEDED"
    assert [e["status"] for e in executions.list_executions(services, "hello", status="SUCCEEDED")[0]] == [
        "SUCCEEDED"
    ]
    assert event_feed.dispatch(services)["failed"] == 0
    assert not any(i.pk.startswith("OUTBOX#") for i in services.store.scan())


def test_the_migration_is_idempotent_and_resumable(services):
    """Given a migration killed half-way (it moved the components and then died), When it runs
    again, and then once more, Then the store ends the same as one clean run, and the last run
    has nothing to do."""
    real = migrations._deployments

    def dies(*args, **kwargs):
        raise RuntimeError("killed")

    migrations._deployments = dies  # type: ignore[assignment]
    try:
        with pytest.raises(RuntimeError):
            migrations.migrate(services.store)
    finally:
        migrations._deployments = real  # type: ignore[assignment]
    assert migrations.layout_version(services.store) == 1
    migrations.migrate(services.store)
    once = _snapshot(services.store)
    last = migrations.LAYOUT_VERSION
    assert migrations.migrate(services.store) == {"from": last, "to": last, "moved": {}}
    assert _snapshot(services.store) == once
    # a forced re-run of every step over the migrated store moves nothing and changes nothing
    services.store.delete(migrations.SCHEMA_PK, migrations.LAYOUT_SK)
    again = migrations.migrate(services.store)
    assert not any(again["moved"].values())
    assert {k: v for k, v in _snapshot(services.store).items() if k[0] != migrations.SCHEMA_PK} == {
        k: v for k, v in once.items() if k[0] != migrations.SCHEMA_PK
    }
