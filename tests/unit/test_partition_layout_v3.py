"""One-partition transactions for webhooks, systems and config (issue 15 §1, layout 3): racing
writers of each area on a store as strict as Azure Tables (``transaction_scope="partition"``):
exactly one wins, and the loser leaves nothing behind."""

from __future__ import annotations

import threading
from collections.abc import Callable

from pilothouse.clock import ManualClock
from pilothouse.errors import AlreadyExists, TransactionScopeError, VersionConflict
from pilothouse.ports import Item, Put
from pilothouse.repositories.config import PK as CONFIG_PK
from pilothouse.repositories.config import ConfigRepository
from pilothouse.repositories.systems import PK as SYSTEMS_PK
from pilothouse.repositories.systems import SystemRepository
from pilothouse.repositories.webhooks import WebhookRepository, source_pk
from pilothouse.store.memory import MemoryStore

NOW = "2026-12-01T00:00:00.000Z"
THREADS = 8


def strict() -> MemoryStore:
    store = MemoryStore(ManualClock(1_796_000_000.0), transaction_scope="partition")
    try:  # the store really refuses more than one partition
        store.transact([Put(Item("A", "x", {})), Put(Item("B", "x", {}))])
    except TransactionScopeError:
        return store
    raise AssertionError("the store accepted a transaction across partitions")


def race(work: Callable[[int], object]) -> tuple[int, int]:
    """Run ``work(i)`` from THREADS threads at once: (wins, conflicts)."""
    barrier = threading.Barrier(THREADS)
    outcome: list[str] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            work(i)
            outcome.append("won")
        except (AlreadyExists, VersionConflict):
            outcome.append("lost")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcome.count("won"), outcome.count("lost")


def test_racing_rollout_starts_one_wins_and_no_orphan_rollout():
    """Given one system read by 8 writers, When each starts its own rollout at once, Then exactly
    one commits: the system points at its rollout, and the only rollout record is that one."""
    store = strict()
    repo = SystemRepository(store)
    data = {"name": "shop", "spec": {"name": "shop", "components": []}, "created_at": NOW, "updated_at": NOW}
    read = repo.create(data)

    def start(i: int) -> object:
        rollout = {
            "id": f"sr-{i:04d}",
            "system": "shop",
            "action": "deploy",
            "status": "in_progress",
            "waves": [],
            "max_parallel": 1,
            "members": {},
            "started_at": NOW,
            "started_by": f"t{i}",
            "updated_at": NOW,
        }
        return repo.start_rollout(read, {**data, "rollout": {"id": rollout["id"]}}, rollout)

    assert race(start) == (1, THREADS - 1)
    rollouts = repo.rollouts("shop", limit=50, cursor=None).items
    assert len(rollouts) == 1
    assert repo.require("shop").data["rollout"]["id"] == rollouts[0].data["id"]
    assert {i.pk for i in store.scan()} == {SYSTEMS_PK}


def test_racing_deliveries_of_one_id_record_it_once():
    """Given a source, When 8 receivers record the same delivery id at once (a sender's retry),
    Then exactly one lands, with exactly one log entry, in the source's own partition."""
    store = strict()
    repo = WebhookRepository(store)
    repo.create(
        {"name": "gh", "kind": "github", "created_at": NOW, "updated_at": NOW},
        {"source": "gh", "secret": "sealed", "created_at": NOW},
    )

    def deliver(i: int) -> object:
        data = {
            "id": "d-1",
            "source": "gh",
            "received_at": NOW,
            "received_epoch": 1_796_000_000.0 + i,
            "status": "received",
            "event": {"n": i},
        }
        repo.add_delivery(data)
        return data

    assert race(deliver) == (1, THREADS - 1)
    assert len(repo.deliveries("gh", limit=50, cursor=None)[0]) == 1
    assert len(store.scan_all(source_pk("gh"))) == 2  # the delivery and its one log entry


def test_racing_config_versions_one_lands_with_its_marker():
    """Given a component scope at version 1, When 8 writers append version 2 at once, Then exactly
    one lands, with the head and the pending marker naming it, all in the CONFIGS partition."""
    store = strict()
    repo = ConfigRepository(store)
    scope = "component:web@prod"

    def version(n: int, value: int) -> dict:
        return {
            "scope": scope,
            "version": n,
            "values": {"v": value},
            "kind": "set",
            "author": "t",
            "message": "",
            "created_at": NOW,
        }

    repo.append(None, version(1, -1), NOW)
    head = repo.head(scope)
    assert race(lambda i: repo.append(head, version(2, i), NOW)) == (1, THREADS - 1)
    latest = repo.latest(scope)
    assert latest is not None and latest.data["version"] == 2
    assert [(p.data["version"]) for p in repo.pending()] == [2]
    assert len(repo.page(scope, limit=50, cursor=None).items) == 2
    assert {i.pk for i in store.scan()} == {CONFIG_PK}
