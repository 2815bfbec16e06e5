"""The stored models of config and secret records: bytes kept, no unknown key (no value can be
stored in a secret's metadata by mistake)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from pilothouse.domain.stored_models import (
    ConfigHeadRecord,
    ConfigPendingRecord,
    ConfigVersionRecord,
    SecretRecord,
    SecretValueRecord,
    stored,
)

VERSION = (
    '{"scope":"component:web@development","version":2,"values":{"a":{"$secret":"db"}},"includes":["base"],'
    '"resolved":{"a":{"$secret":"db"},"b":1},"sources":{"set:base":1},"kind":"rollback","author":"key:k",'
    '"message":"m","created_at":"2026-01-01T00:00:00Z","request_id":null,"restored_from":1}'
)
SECRET = (
    '{"name":"db","description":"","backend":"builtin","current_version":2,"versions":[{"version":1,'
    '"ref":"builtin:db:1","created_at":"t","created_by":"key:k","superseded_at":"t2","keep_until":99.5},'
    '{"version":2,"ref":"builtin:db:2","created_at":"t2","created_by":"key:k"}],"created_at":"t",'
    '"created_by":"key:k","updated_at":"t2"}'
)


@pytest.mark.parametrize(
    ("model", "literal"),
    [
        (ConfigVersionRecord, VERSION),
        (ConfigHeadRecord, '{"scope":"set:base","version":3,"includes":[],"updated_at":"t"}'),
        (ConfigPendingRecord, '{"scope":"component:web@production","version":1,"at":"t"}'),
        (SecretRecord, SECRET),
        (SecretValueRecord, '{"sealed":"UEhFMQ=="}'),
    ],
)
def test_a_stored_record_keeps_its_bytes(model, literal):
    assert json.dumps(stored(model, json.loads(literal)), separators=(",", ":")) == literal


def test_a_value_cannot_be_stored_in_a_secrets_metadata():
    data = json.loads(SECRET)
    with pytest.raises(ValidationError):
        stored(SecretRecord, {**data, "value": "hunter2"})
    data["versions"][0]["value"] = "hunter2"
    with pytest.raises(ValidationError):
        stored(SecretRecord, data)
