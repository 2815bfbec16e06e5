"""The audit record of a successful register goes in the transaction of the change it records
(``Operation.audit_in_commit``, ``services.audit.InCommit``, ``repositories.derived.riding``).

Where a store's transactions span partitions, the component's record, event, outbox entry,
listing entry, dirty marker and the call's audit record (with its day's chain head) commit
together: one transaction, and no change without its record. Everywhere else (a store committing
inside one partition, a call that failed) the record is appended by itself afterwards, as before;
either way it says the same."""

from __future__ import annotations

import json
import threading

import pytest

from pilothouse.clock import ManualClock
from pilothouse.ports import Item
from pilothouse.repositories.components import ComponentRepository
from pilothouse.runtime.events import http_event
from pilothouse.runtime.http import build_resolver
from pilothouse.services import audit
from pilothouse.services.audit_verify import verify
from pilothouse.settings import Settings
from pilothouse.wiring import ServiceHooks, Services
from tests.support.controlplane import ADMIN_KEY
from tests.support.specs import spec


def _services(tmp_path, store: str, scope: str) -> Services:
    settings = Settings(
        store=store, queue="memory", blobs="memory", data_dir=tmp_path, store_transaction_scope=scope
    )
    return Services(settings, ManualClock(1_800_000_000.0))


@pytest.fixture(params=["memory", "sqlite"])
def services(request, tmp_path):
    s = _services(tmp_path, request.param, "store")
    assert s.store.transaction_scope == "store"
    from pilothouse.services.keys import ensure_key

    ensure_key(s, ADMIN_KEY, name="admin")
    yield s
    s.close()


class _Hooks(ServiceHooks):
    def __init__(self, services: Services) -> None:
        self._services = services

    def services(self) -> Services:
        return self._services


def _register(resolver, name: str, request_id: str, **over) -> int:
    event = http_event(
        "POST",
        "/v1/components",
        headers={"authorization": f"Bearer {ADMIN_KEY}", "content-type": "application/json"},
        body=json.dumps(spec(name, **over)),
        request_id=request_id,
    )
    return resolver.resolve(event, None)["statusCode"]


def _records(services) -> list[dict]:
    items, _ = audit.list_records(services, limit=1000)
    return [r for r in items if r["operation"] == "register_component"]


def _resolver(services):
    from pilothouse.api.components import register_component

    return build_resolver([register_component], _Hooks(services))


def test_a_register_and_its_audit_record_are_one_transaction(services, monkeypatch):
    """Given a store whose transactions span partitions, when a component is registered, then one
    transaction writes the change and the audit record (with the chain's head), the record says
    who registered what with which answer, and the chain verifies."""
    store = services.store
    resolver = _resolver(services)
    assert _register(resolver, "warm", "req-0") == 201  # the store's one-off writes
    calls: list[list[str]] = []
    real = type(store).transact

    def counted(self, operations):
        calls.append([(op.item.pk if hasattr(op, "item") else op.pk) for op in operations])
        return real(self, operations)

    monkeypatch.setattr(type(store), "transact", counted)
    assert _register(resolver, "web", "req-1") == 201
    calls = [pks for pks in calls if pks != ["RATE"]]  # the rate limiter's bucket aside
    assert len(calls) == 1, calls
    assert sum(pk.startswith("AUDIT#") for pk in calls[0]) == 2  # the record and its day's head
    monkeypatch.undo()
    mine = [r for r in _records(services) if r["request_id"] == "req-1"]
    assert [(r["target"], r["status"], r["outcome"], r["detail"]) for r in mine] == [
        ("component:web", 201, "success", None)
    ]
    assert mine[0]["principal"].startswith("key:")
    assert verify(services)["ok"]


def test_the_record_says_what_the_record_appended_afterwards_says(tmp_path):
    """Given the same register on a store committing across partitions and on one committing inside
    one partition, then both audit records hold the same fields (their place in the chain aside)."""
    seen = []
    for scope in ("store", "partition"):
        s = _services(tmp_path / scope, "sqlite", scope)
        from pilothouse.services.keys import ensure_key

        ensure_key(s, ADMIN_KEY, name="admin")
        assert _register(_resolver(s), "web", "req-1") == 201
        (record,) = _records(s)
        seen.append({k: v for k, v in record.items() if k not in ("seq", "hash", "prev", "at", "anchor")})
        assert verify(s)["ok"]
        s.close()
    assert seen[0] == seen[1]


def test_a_refused_register_is_audited_by_itself_and_changes_nothing(services):
    """Given a registered component, when the same name is registered again, then the 409 is
    audited (with why), the first record stays the only success, and the component is unchanged."""
    resolver = _resolver(services)
    assert _register(resolver, "web", "req-1") == 201
    before = ComponentRepository(services.store).get("web")
    assert _register(resolver, "web", "req-2", version="9.9.9") == 409
    records = {r["request_id"]: r for r in _records(services)}
    assert records["req-1"]["status"] == 201
    assert records["req-2"]["status"] == 409 and records["req-2"]["outcome"] == "failure"
    assert "exists already" in records["req-2"]["detail"]
    assert ComponentRepository(services.store).get("web") == before
    assert verify(services)["ok"]


def test_a_head_moved_meanwhile_places_the_record_again(services, monkeypatch):
    """Given another audit record appended between placing a register's record and its commit,
    when the transaction fails on the chain's head, then it is tried again on the new head: the
    component is registered once, both records are in the chain, and it verifies."""
    resolver = _resolver(services)
    assert _register(resolver, "warm", "req-0") == 201
    real = audit.InCommit.writes
    placed: list[int] = []

    def racing(self):
        writes = real(self)
        placed.append(1)
        if len(placed) == 1:  # someone else takes the place meanwhile
            audit.record(
                services, principal="key:other", operation="other", target=None, request_id="r", status=200
            )
        return writes

    monkeypatch.setattr(audit.InCommit, "writes", racing)
    assert _register(resolver, "web", "req-1") == 201
    assert len(placed) == 2
    assert [r["status"] for r in _records(services) if r["request_id"] == "req-1"] == [201]
    events, _ = ComponentRepository(services.store).events("web")
    assert len(events) == 1
    assert verify(services)["ok"]


def test_a_change_too_big_to_carry_the_record_commits_alone_and_the_record_follows(services, monkeypatch):
    """Given a rider whose writes do not fit in the change's transaction, when a component is
    registered, then the change commits without them and the record is appended by itself."""
    from pilothouse.repositories import derived

    monkeypatch.setattr(derived, "MAX_OPERATIONS", 6)  # the register's own 5 writes fit, not 7
    resolver = _resolver(services)
    assert _register(resolver, "web", "req-1") == 201
    assert [r["status"] for r in _records(services) if r["request_id"] == "req-1"] == [201]
    assert verify(services)["ok"]


def test_racing_registers_and_audit_appends_keep_one_record_each_and_the_chain_whole(tmp_path):
    """Given a SQLite store committing across partitions, when threads register components while
    others append audit records, then every register has exactly one record, every append too,
    and the day's chain verifies (no fork, no gap)."""
    s = _services(tmp_path, "sqlite", "store")
    from pilothouse.services.keys import ensure_key

    ensure_key(s, ADMIN_KEY, name="admin")
    resolver_of = threading.local()
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def registers(worker: int) -> None:
        try:
            resolver_of.r = _resolver(s)  # one resolver per thread (as one function instance)
            start.wait()
            for i in range(15):
                assert _register(resolver_of.r, f"c{worker}-{i}", f"req-{worker}-{i}") == 201
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def appends(worker: int) -> None:
        try:
            start.wait()
            for i in range(15):
                rid = f"o-{worker}-{i}"
                audit.record(s, principal="key:x", operation="other", target=None, request_id=rid, status=200)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=registers, args=(w,)) for w in range(3)]
    threads += [threading.Thread(target=appends, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    items, _ = audit.list_records(s, limit=1000)
    ids = [r["request_id"] for r in items]
    expected = [f"{kind}-{w}-{i}" for kind in ("req", "o") for w in range(3) for i in range(15)]
    assert sorted(ids) == sorted(expected)
    result = verify(s)
    assert result["ok"], result["problems"]
    assert result["records"] == 90
    assert len(ComponentRepository(s.store).all()) == 45
    assert isinstance(s.store.get("AUDIT-DAYS", audit.day_of(s.clock.time())), Item)
    s.close()


def test_a_register_writes_what_the_stored_models_make_of_its_records(services, monkeypatch):
    """Given a register, whose record, event, outbox entry and audit record are checked by their
    stored models rather than re-serialised (plain values), then each is byte for byte what the
    model's validation and dump make of it, and its head too."""
    resolver = _resolver(services)
    assert _register(resolver, "warm", "req-0") == 201
    puts = []
    real = type(services.store).transact

    def seen(self, operations):
        puts.extend(op.item for op in operations if hasattr(op, "item"))
        return real(self, operations)

    monkeypatch.setattr(type(services.store), "transact", seen)
    assert _register(resolver, "web", "req-1", config_schema=None, config={"a": [1, 2.5, None]}) == 201
    monkeypatch.undo()
    kinds = {
        "RECORD": "ComponentRecord",
        "EVENT#": "ComponentEventRecord",
        "OUTBOX#": "OutboxRecord",
        "HEAD": "AuditChainHead",
        "0": "AuditEntry",
    }
    checked = []
    for item in puts:
        kind = next((k for prefix, k in kinds.items() if item.sk.startswith(prefix)), None)
        if kind is None or item.pk in ("COMPONENT", "RATE") or item.pk.startswith("OUTBOX-DIRTY#"):
            continue
        assert json.dumps(item.data) == json.dumps(_stored(kind, item.data)), kind
        checked.append(kind)
    assert sorted(checked) == sorted(kinds.values())


def _stored(kind: str, data: dict) -> dict:
    from pilothouse.domain import stored_models

    return stored_models.stored(getattr(stored_models, kind), data)


def test_a_registration_record_with_a_wrong_field_still_fails(services):
    """Given a new record without a pending command (checked by its model, not re-serialised), when
    it has a mistyped or unknown field, then it is refused and nothing is written."""
    from pydantic import ValidationError

    repo = ComponentRepository(services.store)
    good = {
        "name": "web",
        "spec": {},
        "state": "Registered",
        "operation": None,
        "created_at": "t",
        "updated_at": "t",
    }
    for change in ({"replicas": "2"}, {"replica": 2}):
        with pytest.raises(ValidationError):
            repo.create({**good, **change}, {"type": "registered"})
    with pytest.raises(ValidationError):
        repo.create(good, {"type": "registered", "version": 2})
    assert repo.get("web") is None
