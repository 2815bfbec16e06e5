"""Idempotency-Key records never keep a secret, and replays keep the first answer's headers
(issue 17 §1, §2)."""

from __future__ import annotations

import json


def test_replayed_key_creation_does_not_show_the_secret_again(api, services):
    """Given a key created with an Idempotency-Key, when the request is repeated, then the replay
    answers 201 with the key's metadata, says the secret was shown once, and the stored record
    holds no trace of the secret."""
    body = {"name": "ci", "role": "deployer"}
    first = api.post("/v1/api-keys", body, headers={"idempotency-key": "mint-1"})
    again = api.post("/v1/api-keys", body, headers={"idempotency-key": "mint-1"})
    assert first[0] == 201 and first[2]["key"].startswith("ph_")
    secret = first[2]["key"]
    assert again[0] == 201 and again[1].get("idempotent-replayed") == "true"
    assert "key" not in again[2] and again[2]["secret_shown_once"] is True
    assert again[2]["id"] == first[2]["id"]
    stored = [i.data for i in services.store.query("IDEMPOTENCY").items]
    assert stored and secret not in json.dumps(stored)
    assert secret.split("_")[2] not in json.dumps(stored)


def test_replay_keeps_location_and_other_headers(api):
    """Given a register with an Idempotency-Key, when repeated, then the replay carries the same
    Location header as the first answer."""
    spec = {
        "name": "web",
        "provider": "local",
        "version": "1.0.0",
        "target": {"command": ["{python}", "-m", "http.server", "{port}"]},
    }
    first = api.post("/v1/components", spec, headers={"idempotency-key": "reg-1"})
    again = api.post("/v1/components", spec, headers={"idempotency-key": "reg-1"})
    assert first[0] == again[0] == 201
    assert first[1].get("location") == again[1].get("location") == "/v1/components/web"
    assert again[1].get("idempotent-replayed") == "true"
