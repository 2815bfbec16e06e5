"""``pilothouse webhooks …`` against the real API in process: the secret shown at create and rotate
only, deliveries listed with their outcome, replay."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

SOURCE = "name: gh\nkind: github\nrules: []\n"


def test_create_shows_the_secret_once_and_deliveries_list_their_outcome(api, cli, tmp_path):
    """Given a source created from YAML, the secret is printed then and never by get or list; a
    signed delivery shows up in `deliveries` as ignored (no rule) and can be replayed."""
    path = tmp_path / "gh.yaml"
    path.write_text(SOURCE)
    made = cli("webhooks", "create", str(path))
    assert made.exit_code == 0, made.output
    secret = next(line for line in made.stdout.splitlines() if line.startswith("whsec_"))
    assert secret not in cli("webhooks", "get", "gh").stdout
    assert secret not in cli("webhooks", "list").stdout
    body = json.dumps({"ref": "refs/heads/main", "after": "a" * 40}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": signature}
    with httpx.Client(transport=api, base_url="http://pilothouse.test") as sender:
        assert sender.post("/v1/webhooks/gh", content=body, headers=headers).status_code == 202
    api.settle()
    listed = cli("webhooks", "deliveries", "gh")
    assert "d-1" in listed.stdout and "ignored" in listed.stdout
    assert cli("webhooks", "replay", "gh", "d-1").exit_code == 0
    rotated = cli("webhooks", "rotate", "gh")
    assert rotated.exit_code == 0 and secret not in rotated.stdout and "whsec_" in rotated.stdout
