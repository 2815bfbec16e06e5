"""The typed pending operation and its reading of the previous release's spelling."""

from __future__ import annotations

from pilothouse.domain.pending import PendingCommand
from pilothouse.domain.records import public_operation

OLD = {
    "id": "0000000001000000001-abcdef12",
    "command": "deploy",
    "params": {
        "version": "v2",
        "_strategy": {"type": "canary", "percentage": 10},
        "_steps": [{"kind": "prepare"}],
        "_notify_token": "tok",
    },
    "requested_at": "2026-11-30T10:00:00Z",
    "requested_epoch": 1700000000,
    "requested_by": "admin",
    "request_id": None,
    "attempt": 2,
    "lease_until": None,
    "started_at": "2026-11-30T10:00:01Z",
}


def test_the_old_hidden_keys_become_fields():
    op = PendingCommand.model_validate(OLD)
    assert op.params == {"version": "v2"}
    assert op.strategy == {"type": "canary", "percentage": 10}
    assert op.steps == [{"kind": "prepare"}]
    assert op.notify_token == "tok"
    assert op.runs_as_deployment and op.attempt == 2


def test_stored_keeps_every_key_and_value_and_adds_none():
    op = PendingCommand.model_validate(OLD)
    stored = op.stored()
    assert "_steps" not in stored["params"] and stored["steps"] == [{"kind": "prepare"}]
    assert stored["started_at"] == "2026-11-30T10:00:01Z"  # keys the model does not name stay
    assert stored["requested_epoch"] == 1700000000 and isinstance(stored["requested_epoch"], int)
    assert PendingCommand.model_validate(stored).stored() == stored
    scale = {"id": "1", "command": "scale", "params": {"replicas": 2}, "attempt": 0, "lease_until": None}
    assert PendingCommand.model_validate(scale).stored() == scale
    assert not PendingCommand.model_validate(scale).runs_as_deployment


def test_public_shape_is_the_old_one_without_the_token():
    new = PendingCommand.model_validate(OLD).stored()
    expected = {k: v for k, v in OLD.items()} | {
        "params": {k: v for k, v in OLD["params"].items() if k != "_notify_token"}
    }
    assert public_operation(new) == expected
    assert public_operation(OLD) == expected
    plain = {"id": "1", "command": "stop", "params": {}}
    assert public_operation(plain) is plain


def test_event_params_name_the_strategy():
    op = PendingCommand.model_validate(OLD)
    assert op.event_params() == {"version": "v2", "strategy": "canary"}
