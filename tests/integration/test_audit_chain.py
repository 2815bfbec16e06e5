"""The audit trail's hash chain: sharded by day, verified, exported (issue 18 §4)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from pilothouse.repositories.audit import HEAD_SK, day_pk, seq_sk
from pilothouse.services import audit, audit_verify
from tests.support.specs import spec


def _record(services, n: int, **over) -> dict:
    fields = {
        "principal": "key:k1",
        "operation": "register_component",
        "target": f"component:c{n}",
        "request_id": f"r{n}",
        "status": 201,
        **over,
    }
    return audit.record(services, **fields)


def _problems(services, since=None) -> list[tuple[str, object]]:
    report = audit_verify.verify(services, since=since)
    assert report["ok"] == (not report["problems"])
    return [(p["problem"], p["seq"]) for p in report["problems"]]


def test_records_chain_within_their_day_and_verify_intact(manual_services, clock):
    """Given five records on one day and three on the next, Then each day is a chain from seq 1,
    the second day's first record anchors the first day's head, and verify finds nothing."""
    first = [_record(manual_services, n) for n in range(5)]
    clock.advance(86400)
    second = [_record(manual_services, n) for n in range(3)]
    assert [r["seq"] for r in first] == [1, 2, 3, 4, 5] and [r["seq"] for r in second] == [1, 2, 3]
    assert all(b["prev"] == a["hash"] for a, b in zip(first, first[1:], strict=False))
    assert second[0]["anchor"] == {"shard": first[0]["shard"], "seq": 5, "hash": first[-1]["hash"]}
    report = audit_verify.verify(manual_services)
    assert report == {"ok": True, "since": None, "days": 2, "records": 8, "problems": []}
    assert audit_verify.verify(manual_services, since=second[0]["shard"])["records"] == 3


def test_a_deleted_record_is_reported(manual_services):
    rows = [_record(manual_services, n) for n in range(5)]
    manual_services.store.delete(day_pk(rows[0]["shard"]), seq_sk(3))
    assert _problems(manual_services) == [("deleted", 3)]


def test_the_last_record_deleted_is_reported_by_the_head(manual_services):
    rows = [_record(manual_services, n) for n in range(3)]
    manual_services.store.delete(day_pk(rows[0]["shard"]), seq_sk(3))
    assert _problems(manual_services) == [("deleted", 3)]


def test_a_changed_record_is_reported(manual_services):
    """Given a record whose status was rewritten in the store (a denial made a success), Then changed."""
    from pilothouse.ports import Item

    rows = [_record(manual_services, n) for n in range(4)]
    rows[1] = _record(manual_services, 9, status=403)
    pk = day_pk(rows[0]["shard"])
    manual_services.store.put(Item(pk, seq_sk(rows[1]["seq"]), {**rows[1], "status": 201}))
    assert _problems(manual_services) == [("changed", 5)]


def test_reordered_records_are_reported(manual_services):
    """Given two records swapped in place (each keeps its content, seq and hash), Then reordered."""
    from pilothouse.ports import Item

    rows = [_record(manual_services, n) for n in range(4)]
    pk = day_pk(rows[0]["shard"])
    manual_services.store.put(Item(pk, seq_sk(2), rows[2]))
    manual_services.store.put(Item(pk, seq_sk(3), rows[1]))
    found = {p for p, _ in _problems(manual_services)}
    assert "reordered" in found


def test_a_deleted_day_breaks_the_next_days_anchor(manual_services, clock):
    """Given two days, When the first day's records and head are all deleted, Then verify
    reports the anchored record as deleted."""
    day1 = [_record(manual_services, n) for n in range(2)]
    clock.advance(86400)
    _record(manual_services, 9)
    for r in day1:
        manual_services.store.delete(day_pk(r["shard"]), seq_sk(r["seq"]))
    manual_services.store.delete(day_pk(day1[0]["shard"]), HEAD_SK)
    assert ("deleted", 2) in _problems(manual_services)


def test_an_inserted_record_is_reported(manual_services):
    from pilothouse.ports import Item

    rows = [_record(manual_services, n) for n in range(2)]
    forged = {k: v for k, v in rows[0].items() if k not in ("seq", "prev", "hash", "shard")}
    manual_services.store.put(Item(day_pk(rows[0]["shard"]), "zzz", forged))
    assert ("inserted", None) in _problems(manual_services)


def test_concurrent_appends_never_fork_the_chain(services):
    """Given 40 records appended from 8 threads at once, Then seqs are 1..40 without a gap or a
    duplicate and the chain verifies."""
    with ThreadPoolExecutor(8) as pool:
        rows = list(pool.map(lambda n: _record(services, n), range(40)))
    assert sorted(r["seq"] for r in rows if r["shard"] == rows[0]["shard"]) == list(
        range(1, 1 + sum(r["shard"] == rows[0]["shard"] for r in rows))
    )
    assert audit_verify.verify(services)["ok"]


def test_api_and_export_in_chain_order(api):
    """Given mutations through the API, When an admin calls verify and export, Then the chain is
    intact and export lists the records oldest first with consecutive seqs."""
    api.post("/v1/components", spec("web"))
    api.post("/v1/components", spec("web"))
    api.post("/v1/components", spec("x"), key=None)
    status, _, report = api.get("/v1/audit/verify")
    assert status == 200 and report["ok"] and report["records"] >= 3, report
    status, _, page = api.get("/v1/audit/export", query="limit=2")
    assert status == 200 and len(page["items"]) == 2 and page["next_cursor"]
    rest = api.get("/v1/audit/export", query=f"limit=100&cursor={page['next_cursor']}")[2]
    seqs = [r["seq"] for r in page["items"] + rest["items"]]
    assert seqs == list(range(1, len(seqs) + 1))
    assert api.get("/v1/audit/verify", query="since=yesterday")[0] == 422
    listed = api.get("/v1/audit", query="limit=2")[2]
    more = api.get("/v1/audit", query=f"limit=100&cursor={listed['next_cursor']}")[2]["items"]
    assert [r["seq"] for r in listed["items"] + more] == sorted(seqs, reverse=True)
    assert json.dumps(report)


def test_verify_and_export_need_audit_read(api):
    status, _, body = api.post("/v1/api-keys", {"name": "d", "role": "deployer"})
    deployer = body["key"]
    assert api.get("/v1/audit/verify", key=deployer)[0] == 403
    assert api.get("/v1/audit/export", key=deployer)[0] == 403
    assert api.get("/v1/audit/verify", key=None)[0] == 401
