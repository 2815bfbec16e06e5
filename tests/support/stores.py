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


def use_moto_dynamodb(monkeypatch, endpoint: str, prefix: str) -> None:
    """Settings for services built from the environment: DynamoDB on the moto server at
    ``endpoint`` (a fresh table named ``prefix-…``, created on first use), with test credentials."""
    monkeypatch.setenv("PILOTHOUSE_STORE", "dynamodb")
    monkeypatch.setenv("PILOTHOUSE_TABLE_NAME", f"{prefix}-{uuid.uuid4().hex[:10]}")
    monkeypatch.setenv("PILOTHOUSE_CREATE_RESOURCES", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def engine_services(clock, invoker):
    """Services from the environment's settings with ``invoker`` as the task invoker, registered."""
    from pilothouse.settings import get_settings
    from pilothouse.wiring import Services, register_services

    services = Services(get_settings(), clock, invoker=invoker)
    register_services(services)
    return services
