"""Backups through the functions: admin only, audited, operations carried out by the job worker,
no key material in any answer, bad ids refused, restore needing force on a non-empty store."""

from __future__ import annotations

import json

from tests.support.controlplane import run_jobs
from tests.support.specs import spec


def _key(api, role):
    status, _, body = api.post("/v1/api-keys", {"name": f"{role}-key", "role": role})
    assert status == 201, body
    return body["key"]


def _op(api, services, pool, cloud, path, body=None):
    status, _, op = api.post(path, body)
    assert status == 202, op
    assert op["status"] == "queued"
    assert run_jobs(services, pool, cloud) == []
    status, _, done = api.get(f"/v1/backup-runs/{op['id']}")
    assert status == 200
    return done


def test_backup_lifecycle_through_the_api(api, services, pool, cloud):
    """Given an admin and two registered components, When a backup is taken, verified, drilled and
    restored with force after a change, Then each run succeeds with progress, the backup is
    listed with its counts, the change is undone, events record the drill's RPO/RTO, and the audit
    trail names every mutation."""
    for name in ("web", "api"):
        assert api.post("/v1/components", spec(name))[0] == 201
    created = _op(api, services, pool, cloud, "/v1/backups")
    assert created["status"] == "succeeded", created
    backup_id = created["result"]["id"]
    assert created["progress"]["items"] == created["result"]["items"] > 0
    status, _, listing = api.get("/v1/backups")
    assert status == 200 and [b["id"] for b in listing["items"]] == [backup_id]
    # the kind "component": the two listing entries, and each component's own partition (its
    # record and event, its outbox entry until dispatched)
    assert listing["items"][0]["counts"]["component"] >= 2 + 2 * 2
    status, _, one = api.get(f"/v1/backups/{backup_id}")
    assert status == 200 and one["chunks"] >= 1 and "mac" not in one and "encryption" not in one
    verified = _op(api, services, pool, cloud, f"/v1/backups/{backup_id}/verify")
    assert verified["status"] == "succeeded" and verified["result"]["ok"] is True
    drilled = _op(api, services, pool, cloud, "/v1/backups/latest/drill")
    assert drilled["status"] == "succeeded", drilled
    assert drilled["result"]["detail"]["rto_seconds"] >= 0

    assert api.post("/v1/components", spec("extra"))[0] == 201
    refused = _op(api, services, pool, cloud, f"/v1/backups/{backup_id}/restore")
    assert refused["status"] == "failed" and refused["error"]["status"] == 409
    assert "force" in refused["error"]["detail"]
    restored = _op(api, services, pool, cloud, f"/v1/backups/{backup_id}/restore", {"force": True})
    assert restored["status"] == "succeeded", restored
    assert api.get("/v1/components/extra")[0] == 404
    assert api.get("/v1/components/web")[0] == 200

    status, _, events = api.get("/v1/backup-events")
    assert {"backup", "drill"} <= {e["type"] for e in events["items"]}
    status, _, audit = api.get("/v1/audit", query="limit=100")
    operations = {r["operation"] for r in audit["items"]}
    assert {"create_backup", "verify_backup", "drill_backup", "restore_backup"} <= operations
    text = json.dumps([listing, one, created, verified, drilled, restored, events])
    assert "header" not in text and "ciphertext" not in text

    status, _, deleted = api.delete(f"/v1/backups/{backup_id}")
    assert status == 200 and deleted["deleted_objects"] >= 2
    assert api.get(f"/v1/backups/{backup_id}")[0] == 404


def test_backups_are_admin_only(api):
    """Given a deployer and an operator key, Then every backup endpoint answers 403 naming
    backups:admin, and no key answers 401."""
    for role in ("viewer", "operator", "deployer"):
        key = _key(api, role)
        for method, path in (
            ("GET", "/v1/backups"),
            ("POST", "/v1/backups"),
            ("POST", "/v1/backups/20261202T030000Z-a1b2c3/restore"),
            ("DELETE", "/v1/backups/20261202T030000Z-a1b2c3"),
            ("GET", "/v1/backup-events"),
        ):
            status, _, problem = api.call(method, path, {} if method == "POST" else None, key=key)
            assert status == 403 and problem["required_permission"] == "backups:admin", (role, path)
    assert api.get("/v1/backups", key=None)[0] == 401


def test_bad_ids_and_bodies_are_refused(api):
    """Given ids with traversal, absolute paths or control characters and bodies with unknown
    fields, Then each is refused with a problem naming the field, and nothing is queued."""
    for bad in ("..%2F..%2Fetc", "%2Fetc%2Fpasswd", "2026%00", "x" * 300, "latest"):  # latest: none yet
        status, _, problem = api.get(f"/v1/backups/{bad}")
        assert status in (404, 422), (bad, status, problem)
    status, _, problem = api.post("/v1/backups/20261202T030000Z-a1b2c3/restore", {"force": "yes please"})
    assert status == 422
    status, _, problem = api.post("/v1/backups/20261202T030000Z-a1b2c3/restore", {"forse": True})
    assert status == 422
    status, _, problem = api.post("/v1/backups/20261202T030000Z-a1b2c3/restore", {})
    assert status == 404
    status, _, problem = api.post("/v1/backups/latest/drill")
    assert status == 404 and "no complete backup" in problem["detail"]
