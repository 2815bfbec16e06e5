"""Idempotency-Key support: Powertools' idempotency utility with a persistence layer on our store.

The record key combines the caller, the operation and the header's value; the payload hash covers
the path and body, so reusing a key for a different request is refused (422) instead of replayed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from pilothouse.errors import AlreadyExists, VersionConflict
from pilothouse.ports import Item, Store

PK = "IDEMPOTENCY"


class StorePersistenceLayer(BasePersistenceLayer):
    """Powertools persistence on the storage port (any adapter: SQLite, DynamoDB, ...)."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    @staticmethod
    def _to_record(data: dict[str, Any]) -> DataRecord:
        return DataRecord(
            idempotency_key=data["key"],
            status=data["status"],
            expiry_timestamp=data.get("expiry"),
            in_progress_expiry_timestamp=data.get("in_progress_expiry"),
            response_data=data.get("response", ""),
            payload_hash=data.get("payload_hash", ""),
        )

    @staticmethod
    def _to_item(record: DataRecord) -> Item:
        data = {
            "key": record.idempotency_key,
            "status": record.status,
            "expiry": record.expiry_timestamp,
            "in_progress_expiry": record.in_progress_expiry_timestamp,
            "response": record.response_data,
            "payload_hash": record.payload_hash,
        }
        return Item(PK, record.idempotency_key, data, expires_at=record.expiry_timestamp)

    def _get_record(self, idempotency_key: str) -> DataRecord:
        item = self.store.get(PK, idempotency_key)
        if item is None:
            raise IdempotencyItemNotFoundError
        return self._to_record(item.data)

    def _put_record(self, data_record: DataRecord) -> None:
        try:
            self.store.put(self._to_item(data_record), if_absent=True)
            return
        except AlreadyExists:
            pass
        existing = self.store.get(PK, data_record.idempotency_key)
        now = self.store.clock.time()
        if existing is not None:
            stale_in_progress = (
                existing.data["status"] == "INPROGRESS"
                and existing.data.get("in_progress_expiry") is not None
                and existing.data["in_progress_expiry"] < now * 1000
            )
            if stale_in_progress:
                try:
                    self.store.put(self._to_item(data_record), if_version=existing.version)
                    return
                except VersionConflict:
                    pass
        raise IdempotencyItemAlreadyExistsError

    def _update_record(self, data_record: DataRecord) -> None:
        self.store.put(self._to_item(data_record))

    def _delete_record(self, data_record: DataRecord) -> None:
        self.store.delete(PK, data_record.idempotency_key)


def payload_hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def run_once(
    store: Store,
    *,
    key: str,
    payload: str,
    ttl_seconds: int,
    action: Callable[[], dict[str, Any]],
    lambda_context: Any = None,
) -> tuple[dict[str, Any], bool]:
    """Run ``action`` once per ``key``; a repeat returns the stored answer. Returns (answer, replayed).

    Raises Powertools' ``IdempotencyAlreadyInProgressError`` while the first call still runs and
    ``IdempotencyValidationError`` when the key comes back with another payload.
    """
    ran = False
    config = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="payload",
        expires_after_seconds=ttl_seconds,
        use_local_cache=False,
    )
    if lambda_context is not None:
        # lets Powertools expire an in-progress record when the invocation would have timed out
        config.register_lambda_context(lambda_context)

    @idempotent_function(
        data_keyword_argument="request", persistence_store=StorePersistenceLayer(store), config=config
    )
    def _run(request: dict[str, str]) -> dict[str, Any]:
        nonlocal ran
        ran = True
        return action()

    answer = _run(request={"key": key, "payload": payload})
    return answer, not ran
