"""Store adapters for suites that run against every one (memory, SQLite, DynamoDB on moto)."""

from __future__ import annotations

import uuid
from pathlib import Path

from pilothouse.clock import ManualClock
from pilothouse.store.base import Store

KINDS = ("memory", "sqlite", "dynamodb")


def make_store(
    kind: str,
    tmp_path: Path,
    monkeypatch,
    dynamodb_endpoint: str | None = None,
    *,
    transaction_scope: str | None = None,
) -> Store:
    """A fresh store of ``kind`` on a manual clock (DynamoDB: a new table at the moto endpoint),
    with the adapter's own transaction scope unless ``transaction_scope`` narrows it."""
    clock = ManualClock()
    if kind == "memory":
        from pilothouse.store.memory import MemoryStore

        return MemoryStore(clock, transaction_scope=transaction_scope)
    if kind == "sqlite":
        from pilothouse.store.sqlite import SqliteStore

        return SqliteStore(tmp_path / "state.db", clock, transaction_scope=transaction_scope)
    from pilothouse.store.dynamodb import DynamoStore

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    table = f"contract-{uuid.uuid4().hex[:12]}"
    return DynamoStore(
        table,
        region="us-east-1",
        host=dynamodb_endpoint,
        clock=clock,
        create_table=True,
        transaction_scope=transaction_scope,
    )
