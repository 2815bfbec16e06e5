"""The audit chain's head kept between records (``services.audit._head``): a process places its
next record on the head it last wrote or read, and a head another process (or instance) has moved
since makes the conditional write fail and the record placed again on the head read afresh.

Two ``Services`` on one SQLite file stand for two processes: each store object keeps its own head.
"""

from __future__ import annotations

import json
import threading

import pytest

from pilothouse.clock import ManualClock
from pilothouse.repositories.audit import HEAD_SK, day_pk
from pilothouse.runtime.events import http_event
from pilothouse.runtime.http import build_resolver
from pilothouse.services import audit
from pilothouse.services.audit_verify import verify
from pilothouse.settings import Settings
from pilothouse.wiring import ServiceHooks, Services
from tests.support.controlplane import ADMIN_KEY
from tests.support.specs import spec


def _instance(tmp_path, clock, scope: str = "store") -> Services:
    settings = Settings(
        store="sqlite", queue="memory", blobs="memory", data_dir=tmp_path, store_transaction_scope=scope
    )
    return Services(settings, clock)


@pytest.fixture
def two(tmp_path):
    """Two instances (as two processes) on one store file, with an admin key."""
    from pilothouse.services.keys import ensure_key

    clock = ManualClock(1_800_000_000.0)
    a, b = _instance(tmp_path, clock), _instance(tmp_path, clock)
    ensure_key(a, ADMIN_KEY, name="admin")
    yield a, b
    a.close()
    b.close()


class _Hooks(ServiceHooks):
    def __init__(self, services: Services) -> None:
        self._services = services

    def services(self) -> Services:
        return self._services


def _resolver(services: Services):
    from pilothouse.api.components import register_component

    return build_resolver([register_component], _Hooks(services))


def _register(resolver, name: str, request_id: str) -> int:
    event = http_event(
        "POST",
        "/v1/components",
        headers={"authorization": f"Bearer {ADMIN_KEY}", "content-type": "application/json"},
        body=json.dumps(spec(name)),
        request_id=request_id,
    )
    return resolver.resolve(event, None)["statusCode"]


def _append(services: Services, request_id: str) -> dict:
    return audit.record(
        services, principal="key:x", operation="other", target=None, request_id=request_id, status=200
    )


def _chain(services: Services) -> list[dict]:
    day = audit.day_of(services.clock.time())
    return [i.data for i in audit.repo(services).chain(day)]


def _head_reads(services: Services, monkeypatch) -> list[int]:
    """Counts the reads of the day's head item from now on."""
    reads: list[int] = []
    store = services.store
    real = type(store).get
    head_pk = day_pk(audit.day_of(services.clock.time()))

    def get(self, pk, sk):
        if self is store and (pk, sk) == (head_pk, HEAD_SK):
            reads.append(1)
        return real(self, pk, sk)

    monkeypatch.setattr(type(store), "get", get)
    return reads


def test_the_next_record_follows_the_head_this_process_wrote_without_reading_it(two, monkeypatch):
    """Given a record appended and a component registered (its record riding in the commit), when
    more follow from the same instance, then none reads the day's head again and the chain is whole."""
    a, _ = two
    resolver = _resolver(a)
    _append(a, "r1")
    assert _register(resolver, "web", "req-1") == 201
    reads = _head_reads(a, monkeypatch)
    assert _register(resolver, "api", "req-2") == 201
    _append(a, "r2")
    assert reads == []
    monkeypatch.undo()
    assert [r["seq"] for r in _chain(a)] == [1, 2, 3, 4]
    assert verify(a)["ok"]


def test_a_head_another_instance_moved_places_the_record_again(two):
    """Given instance A keeping the head of its last record, when instance B appends after it,
    then A's next record (appended, or riding in a register) fails on the moved head and is placed
    after B's: one chain, no fork, no gap."""
    a, b = two
    _append(a, "a1")
    _append(b, "b1")  # B reads the head A wrote
    _append(a, "a2")  # A's kept head is a1's: placed again after b1
    _append(b, "b2")
    assert _register(_resolver(a), "web", "a3") == 201  # A's kept head is a2's: the commit is retried
    chain = _chain(a)
    assert [r["request_id"] for r in chain] == ["a1", "b1", "a2", "b2", "a3"]
    assert [r["seq"] for r in chain] == [1, 2, 3, 4, 5]
    assert all(r["prev"] == before["hash"] for before, r in zip(chain, chain[1:], strict=False))
    result = verify(a)
    assert result["ok"], result["problems"]


def test_a_head_kept_for_another_day_is_not_used(two):
    """Given a head kept from yesterday, when a record is appended today, then it starts today's
    chain at seq 1 and anchors yesterday's head."""
    a, _ = two
    first = _append(a, "d1")
    a.clock.advance(86400)
    second = _append(a, "d2")
    assert (second["seq"], second["prev"]) == (1, audit.genesis(second["shard"]))
    assert second["anchor"] == {"shard": first["shard"], "seq": 1, "hash": first["hash"]}
    assert verify(a)["ok"]


def test_two_instances_racing_keep_one_chain(two):
    """Given two instances (as two processes, each keeping its own head), when each registers
    components in one thread and appends audit records in another, all at once, then every call
    has exactly one record and the day's chain verifies: no fork, no gap."""
    errors: list[BaseException] = []
    start = threading.Barrier(4)
    per_thread = 12

    def registers(services: Services, who: str) -> None:
        try:
            resolver = _resolver(services)
            start.wait()
            for i in range(per_thread):
                assert _register(resolver, f"{who}-{i}", f"req-{who}-{i}") == 201
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def appends(services: Services, who: str) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                _append(services, f"o-{who}-{i}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    a, b = two
    threads = [
        threading.Thread(target=registers, args=(a, "a")),
        threading.Thread(target=registers, args=(b, "b")),
        threading.Thread(target=appends, args=(a, "a")),
        threading.Thread(target=appends, args=(b, "b")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    chain = _chain(a)
    assert [r["seq"] for r in chain] == list(range(1, 4 * per_thread + 1))
    expected = [f"{kind}-{who}-{i}" for kind in ("req", "o") for who in "ab" for i in range(per_thread)]
    assert sorted(r["request_id"] for r in chain) == sorted(expected)
    result = verify(b)
    assert result["ok"], result["problems"]
