"""``pilothouse backups …`` against the real API in process (memory store, queue and blobs)."""

from __future__ import annotations

import json

import pytest

from pilothouse.cli import backups as backups_cli
from tests.support.specs import spec


def _register(api, name: str) -> None:
    import httpx

    from tests.support.controlplane import ADMIN_KEY

    with httpx.Client(transport=api, base_url="http://pilothouse.test") as client:
        answer = client.post(
            "/v1/components", json=spec(name), headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )
    assert answer.status_code == 201, answer.text


@pytest.fixture(autouse=True)
def _fast_polls(monkeypatch):
    monkeypatch.setattr(backups_cli, "POLL_SECONDS", 0)


def test_create_wait_list_get_drill_and_events(api, cli):
    """Given two components, When `backups create --wait` runs, Then it ends with a check mark and
    the item count; `list` and `get` show the backup, `drill --wait` prints RPO and RTO, and
    `events` lists the backup and the drill."""
    for name in ("web", "api"):
        _register(api, name)
    created = cli("backups", "create", "--wait")
    assert created.exit_code == 0, created.output
    assert "✓ create" in created.stdout and "items" in created.stdout
    listed = json.loads(cli("backups", "list", "-o", "json").stdout)
    (backup,) = listed["items"]
    # the kind "component": the two listing entries, and each component's own partition (its
    # record and event, its outbox entry until dispatched)
    components = backup["counts"]["component"]
    assert components >= 2 + 2 * 2
    table = cli("backups", "list")
    assert backup["id"] in table.stdout
    got = cli("backups", "get", backup["id"])
    assert got.exit_code == 0 and f"component {components}" in got.stdout
    drilled = cli("backups", "drill", "--wait")
    assert drilled.exit_code == 0, drilled.output
    assert "RPO" in drilled.stdout and "RTO" in drilled.stdout
    events = cli("backups", "events")
    assert "drill ok" in events.stdout and "backup ok" in events.stdout


def test_restore_needs_force_then_replaces_and_bad_ids_exit_nonzero(api, cli):
    """Given a backup and a component registered after it, When `restore --wait` runs without
    --force, Then it fails (exit 1) naming --force; with --force it succeeds and the late component
    is gone; an id with '..' exits non-zero and nothing is queued."""
    _register(api, "web")
    created = json.loads(cli("backups", "create", "--wait", "-o", "json").stdout)
    backup_id = created["result"]["id"]
    _register(api, "late")
    refused = cli("backups", "restore", backup_id, "--wait")
    assert refused.exit_code == 1 and "force" in refused.stderr
    done = cli("backups", "restore", backup_id, "--force", "--wait")
    assert done.exit_code == 0, done.output
    assert "late" not in cli("components", "list").stdout
    assert cli("backups", "verify", "..%2F..%2Fetc", "--wait").exit_code != 0
    assert cli("backups", "delete", backup_id, "--yes").exit_code == 0
    assert cli("backups", "get", backup_id).exit_code == 1


def test_restore_reconciles_the_providers(api, cli):
    """Given a deployed (Running) component and a backup, When the backup is restored with --force,
    Then the run's result says the provider took the component back (restored) and the component
    is Running again, without a restoring mark."""
    import httpx

    from tests.support.controlplane import ADMIN_KEY

    _register(api, "web")
    with httpx.Client(transport=api, base_url="http://pilothouse.test") as client:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        assert client.post("/v1/components/web/deploy", json={}, headers=headers).status_code == 202
        api.settle()
        assert client.get("/v1/components/web", headers=headers).json()["state"] == "Running"
    created = json.loads(cli("backups", "create", "--wait", "-o", "json").stdout)
    restored = cli("backups", "restore", created["result"]["id"], "--force", "--wait", "-o", "json")
    assert restored.exit_code == 0, restored.output
    run = json.loads(restored.stdout)
    assert run["result"]["reconciled"] == {"web": "restored"}
    with httpx.Client(transport=api, base_url="http://pilothouse.test") as client:
        view = client.get("/v1/components/web", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).json()
    assert view["state"] == "Running" and not view.get("restoring")
