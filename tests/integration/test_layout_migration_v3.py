"""The store layout migration to version 3 (issue 15 §1, the rest): a store written by the release
before (``tests/support/layout_v2.jsonl``: webhook sources with their secrets, a source's
deliveries with their log, a system with a rollout, config heads, versions and a pending marker,
written by that release's own repositories) reads and works after ``migrate``, on a SQLite file
that refuses transactions across partitions; the migration is idempotent and resumable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pilothouse.clock import ManualClock, iso
from pilothouse.errors import AlreadyExists
from pilothouse.ports import Item
from pilothouse.repositories.config import ConfigRepository
from pilothouse.repositories.systems import SystemRepository
from pilothouse.repositories.webhooks import WebhookRepository
from pilothouse.services import migrations
from pilothouse.settings import Settings
from pilothouse.wiring import Services

FIXTURE = Path(__file__).resolve().parents[1] / "support" / "layout_v2.jsonl"
START = 1_796_000_000.0 + 86400 + 60
ROLLOUT = "sr-1796086400000-0a1b2c"
OLD_PARTITIONS = ("WEBHOOKSOURCE", "WEBHOOKSECRET", "WEBHOOKDELIVERY", "WEBHOOKLOG", "SYSTEM", "SYSROLLOUT")


def _old_items() -> list[Item]:
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]
    return [Item(r["pk"], r["sk"], r["data"], r["version"], r["expires_at"]) for r in rows]


@pytest.fixture
def services(tmp_path) -> Iterator[Services]:
    settings = Settings(
        store="sqlite",
        queue="memory",
        blobs="memory",
        data_dir=tmp_path / "data",
        store_transaction_scope="partition",
    )
    s = Services(settings, ManualClock(START))
    s.store.load(_old_items())
    yield s
    s.close()


def _snapshot(store) -> dict[tuple[str, str], tuple[dict, int]]:
    return {(i.pk, i.sk): (i.data, i.version) for i in store.scan()}


def test_webhooks_systems_and_config_read_and_work_after_the_migration(services):
    """Given a store of layout 2, When it is migrated, Then sources, secrets, deliveries (newest
    first), the system, its rollout, config heads, versions and the pending marker read as
    before, with their versions; nothing is left in the older partitions; and new writes of each
    area commit inside one partition (the store refuses more)."""
    store = services.store
    assert migrations.layout_version(store) == 2
    done = migrations.migrate(store)
    assert done["from"] == 2 and done["to"] == migrations.LAYOUT_VERSION >= 3
    assert done["moved"]["webhook_items"] == 8
    assert done["moved"]["system_items"] == 2
    assert done["moved"]["config_items"] == 10
    left = {i.pk.split("#", 1)[0] for i in store.scan()}
    assert not left & {*OLD_PARTITIONS, "CONFIG", "CONFIGV", "CONFIG_PENDING"}, left

    hooks = WebhookRepository(store)
    gh = hooks.require("gh")
    assert gh.sk == "gh" and gh.data["kind"] == "github"
    assert hooks.secret("gh") == "sealed:v1:abc" and hooks.secret("ci") == "sealed:v1:def"
    assert [i.sk for i in hooks.page(limit=10, cursor=None).items] == ["ci", "gh"]
    deliveries, _ = hooks.deliveries("gh", limit=10, cursor=None)
    assert [d["id"] for d in deliveries] == ["d-2", "d-1"]
    with pytest.raises(AlreadyExists):  # de-duplication holds across the move
        hooks.add_delivery({**deliveries[0]})

    systems = SystemRepository(store)
    shop = systems.require("shop")
    assert shop.version == 2 and shop.data["rollout"]["id"] == ROLLOUT
    rollout = systems.rollout("shop", ROLLOUT)
    assert rollout is not None and rollout.data["status"] == "in_progress"
    assert [i.data["id"] for i in systems.rollouts("shop", limit=10, cursor=None).items] == [ROLLOUT]

    config = ConfigRepository(store)
    head = config.head("component:web@prod")
    assert head is not None and head.version == 2 and head.data["version"] == 2
    versions = config.page("component:web@prod", limit=10, cursor=None).items
    assert [i.data["version"] for i in versions] == [2, 1]
    heads = sorted(h.data["scope"] for h in config.heads("component:"))
    assert heads == ["component:db@prod", "component:web@prod"]
    assert [(p.data["scope"], p.data["version"]) for p in config.pending()] == [("component:web@prod", 2)]

    # new writes of each area, each one transaction of one partition
    now = iso(START)
    hooks.save(gh, {**gh.data, "updated_at": now}, {"source": "gh", "secret": "sealed:v2", "created_at": now})
    assert hooks.secret("gh") == "sealed:v2"
    hooks.add_delivery({**deliveries[0], "id": "d-3", "received_epoch": START, "received_at": now})
    assert [d["id"] for d in hooks.deliveries("gh", limit=1, cursor=None)[0]] == ["d-3"]
    hooks.delete(hooks.require("ci"))
    assert hooks.get("ci") is None and hooks.secret("ci") is None

    finished = {**rollout.data, "status": "succeeded"}
    systems.save_rollout(rollout, finished)
    second = {**finished, "id": "sr-1796086460000-ffffff", "status": "in_progress"}
    systems.start_rollout(shop, {**shop.data, "rollout": {"id": second["id"]}}, second)
    assert [i.data["id"] for i in systems.rollouts("shop", limit=10, cursor=None).items] == [
        second["id"],
        ROLLOUT,
    ]
    systems.delete_with_rollouts(systems.require("shop"))
    assert systems.get("shop") is None and not systems.rollouts("shop", limit=10, cursor=None).items

    latest = config.latest("component:web@prod")
    assert latest is not None
    config.append(head, {**latest.data, "version": 3, "values": {"port": 9000}}, now)
    assert config.latest("component:web@prod").data["values"] == {"port": 9000}  # type: ignore[union-attr]
    assert [p.data["version"] for p in config.pending()] == [3]
    config.done("component:web@prod", 3)
    assert config.pending() == []


def test_the_migration_to_version_3_is_idempotent_and_resumable(services):
    """Given a migration killed half-way (webhooks moved, then it died before systems), When it runs
    again and once more, Then the store ends as after one clean run, the version is written last
    and the last run has nothing to do; a forced re-run of every step changes nothing."""
    from pilothouse.repositories import systems

    real = systems.migrate_legacy

    def dies(*args, **kwargs):
        raise RuntimeError("killed")

    systems.migrate_legacy = dies  # type: ignore[assignment]
    try:
        with pytest.raises(RuntimeError):
            migrations.migrate(services.store)
    finally:
        systems.migrate_legacy = real  # type: ignore[assignment]
    assert migrations.layout_version(services.store) == 2
    assert WebhookRepository(services.store).secret("gh") == "sealed:v1:abc"
    migrations.migrate(services.store)
    once = _snapshot(services.store)
    last = migrations.LAYOUT_VERSION
    assert migrations.migrate(services.store) == {"from": last, "to": last, "moved": {}}
    assert _snapshot(services.store) == once
    services.store.delete(migrations.SCHEMA_PK, migrations.LAYOUT_SK)
    again = migrations.migrate(services.store)
    assert not any(again["moved"].values())
    assert {k: v for k, v in _snapshot(services.store).items() if k[0] != migrations.SCHEMA_PK} == {
        k: v for k, v in once.items() if k[0] != migrations.SCHEMA_PK
    }


def test_a_copy_already_at_its_new_place_wins(services):
    """Given a migration that copied an item and died before deleting the old one, after which a
    newer write landed at the new place, When it runs again, Then the newer item stays and the
    old one is gone."""
    store = services.store
    old = store.get("SYSTEM", "shop")
    assert old is not None
    store.load([Item("SYSTEMS", "S#shop", {**old.data, "updated_at": "newer"}, old.version + 1)])
    migrations.migrate(store)
    shop = SystemRepository(store).require("shop")
    assert shop.data["updated_at"] == "newer" and shop.version == old.version + 1
    assert store.get("SYSTEM", "shop") is None
