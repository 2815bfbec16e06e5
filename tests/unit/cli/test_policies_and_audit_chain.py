"""``pilothouse policies`` and ``pilothouse audit verify / export`` against the real API in process."""

from __future__ import annotations

import json

import yaml

POLICY = {
    "name": "dev-replicas",
    "match": {"operations": ["scale_component"], "environments": ["development"]},
    "rule": "request.replicas <= 10",
    "message": "replicas at most 10 in development",
}


def test_policies_create_list_get_update_test_delete(api, cli, tmp_path):
    """Given a policy file, Then the CLI creates, lists, shows, updates, dry-runs and deletes it."""
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(POLICY))
    created = cli("policies", "create", "-f", str(path))
    assert created.exit_code == 0 and "dev-replicas" in created.stdout, created.output
    listed = cli("policies", "list")
    assert "dev-replicas" in listed.stdout and "builtin-freeze" in listed.stdout
    path.write_text(yaml.safe_dump({**POLICY, "rule": "request.replicas <= 8"}))
    updated = cli(
        "policies", "update", "dev-replicas", "-f", str(path), "--expected-version", "1", "-o", "json"
    )
    assert json.loads(updated.stdout)["version"] == 2, updated.output
    stale = cli("policies", "update", "dev-replicas", "-f", str(path), "--expected-version", "1")
    assert stale.exit_code == 1 and "409" in stale.output
    shown = cli("policies", "get", "dev-replicas")
    assert "v1" in shown.stdout and "v2" in shown.stdout
    hypothetical = tmp_path / "r.yaml"
    hypothetical.write_text(
        yaml.safe_dump(
            [
                {"operation": "scale_component", "environment": "development", "request": {"replicas": n}}
                for n in (5, 9)
            ]
        )
    )
    tried = cli("policies", "test", "--request", str(hypothetical))
    assert tried.exit_code == 1 and "1 of 2 request(s) denied" in tried.stdout, tried.output
    assert cli("policies", "delete", "dev-replicas").exit_code == 0
    assert "dev-replicas" not in cli("policies", "list").stdout


def test_audit_verify_and_export(api, cli, tmp_path):
    """Given audited calls, Then audit verify says intact (exit 0) and export writes JSON Lines in
    chain order; a record changed in the store makes verify exit 1 naming it."""
    from pilothouse.ports import Item
    from pilothouse.repositories.audit import day_pk, seq_sk

    api.add("greeter", "Running")
    ok = cli("audit", "verify")
    assert ok.exit_code == 0 and "intact" in ok.stdout, ok.output
    out = tmp_path / "audit.jsonl"
    exported = cli("audit", "export", "-f", str(out))
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["seq"] for r in lines] == list(range(1, len(lines) + 1))
    first = lines[0]
    api.services.store.put(Item(day_pk(first["shard"]), seq_sk(1), {**first, "status": 299}))
    broken = cli("audit", "verify")
    assert broken.exit_code == 1 and "changed" in broken.stdout, broken.output
    assert cli("audit", "--limit", "1", "-o", "json").exit_code == 0  # the listing still answers
