"""DynamoDB store: the storage port on one DynamoDB table (single-table design), through PynamoDB.

Table
=====

The table (``template.yaml``: ``Table``) has a string hash key ``pk`` and a string range key ``sk``,
on-demand billing, point-in-time recovery and DynamoDB TTL on ``expires_at``. Each :class:`Item`
is one DynamoDB item:

==============  ======  ============================================================================
attribute       type    content
==============  ======  ============================================================================
``pk``          S       the partition key
``sk``          S       the sort key
``version``     N       the store-maintained version (1 on create, +1 on every write)
``data``        S       the JSON document, serialized compactly. A JSON *string* rather than a
                        DynamoDB map: arbitrary nesting, empty maps/lists/strings, floats and
                        ``null`` round-trip exactly, with no Decimal conversion and no
                        reserved-word or attribute-name restrictions; nothing ever filters or
                        projects inside a document server-side, so nothing is lost.
``expires_at``  N       optional, epoch seconds (the table's TTL attribute; stored exactly as
                        given, fractions included). Absent when the item does not expire.
==============  ======  ============================================================================

Key layouts (every partition the repositories use)
==================================================

=========================  ==========================================  ==========================
partition (pk)             sort key (sk)                               TTL
=========================  ==========================================  ==========================
``COMPONENT#<name>``       ``RECORD`` / ``EVENT#...`` / ``OUTBOX#...``  no (history stays)
``COMPONENT``              ``<name>`` (listing entry, derived)         no
``APIKEY``                 ``<key id>``                                no (expiry is in the data;
                                                                       revoked keys are kept)
``AUDIT#<yyyy-mm-dd>``     ``<seq, 12 digits>`` / ``HEAD`` / ``ANON#``  yes: ``audit_ttl_days``
``AUDIT-DAYS``             ``<yyyy-mm-dd>``                            yes: ``audit_ttl_days``
``AUDIT``                  ``<epoch µs, 17 digits>#<random>``          yes (before the chain)
``IDEMPOTENCY``            ``<idempotency key>``                       yes: Powertools' expiry
``WORKFLOW``               ``<name>``                                  no
``WFVER#<name>``           ``<version, 8 digits>``                     no (immutable)
``EXECUTION#<wf>#<name>``  ``RECORD`` / ``HIST#<event id, 8 digits>``  could, once finished
``EXEC#<workflow>``        ``<execution name>`` (listing, derived)     could, once finished
``EXECRUNNING``            ``<workflow>#<name>``                       no (deleted on finish)
``DEPLOYMENT#<id>``        ``RECORD`` / ``EVENT#...`` / ``OUTBOX#...``  no
``DEPLOYMENT``             ``<id>`` (time-ordered; listing, derived)   no
``OUTBOX-DIRTY#<shard>``   ``<partition>``                             no (dropped once drained)
``FREEZE``                 ``component:<name>`` / ``environment:<e>``  no
``SCHEMA``                 ``layout``                                  no (the layout version)
=========================  ==========================================  ==========================

Every read the control plane makes is "one item by key" or "a partition's items whose sort key
starts with a prefix, in order, paged" — exactly GetItem and Query on the base table — so no
secondary index is needed yet. Filters (components by state/environment, deployments by
component/status, audit by principal) run over a partition page by page. The first index to add,
when the ``DEPLOYMENT`` listing grows large, is a GSI keyed by component over the listing entries
(sparse attributes ``gsi1pk``/``gsi1sk``), so that a component's deployments need not be filtered
out of all of them. Every transaction the services issue keeps to one partition (the port's
``transaction_scope``), so the same layout runs on Azure Tables.

Semantics
=========

- **Expiry.** DynamoDB deletes expired items lazily (typically within days) and still returns them,
  so the base class filters them on read, and every condition treats them as absent:
  "absent" is ``attribute_not_exists(pk) OR expires_at <= :now`` and "at version v" is
  ``version = :v AND (attribute_not_exists(expires_at) OR expires_at > :now)``, with ``:now`` from
  the store's clock. :meth:`purge_expired` is a no-op: TTL is the backend's job.
- **Versions.** A conditional write knows the version it creates (``if_absent`` → 1,
  ``if_version=v`` → v+1). An unconditional put first reads the item (strongly consistent) and is
  then conditioned on that item being unchanged, so the returned version is exact; if someone
  wrote in between, the whole operation is retried from the read.
- **Writes.** A single put/delete is one PutItem/DeleteItem with a ConditionExpression; a lone
  ``Check`` is one consistent GetItem; several operations are one TransactWriteItems. A failed
  condition (``ConditionalCheckFailedException``, or ``TransactionCanceledException`` with
  ``ConditionalCheckFailed`` reasons) is reported by re-reading the failed items and raising what
  the base class raises for the other adapters (:class:`~pilothouse.errors.AlreadyExists` for
  ``if_absent``, :class:`~pilothouse.errors.VersionConflict` otherwise, naming the key and the
  version found). ``TransactionConflict``/throttling cancellations are retried with back-off; any
  other AWS error is a :class:`~pilothouse.errors.StoreError` (503) carrying the AWS error code
  (an item over DynamoDB's 400 KB limit is a 413).
- **Reads.** GetItem and Query are strongly consistent (the contract: a write is visible to the
  next read). Query is ``pk = :pk AND begins_with(sk, :prefix)``, ``ScanIndexForward = not
  reverse``, ``ExclusiveStartKey = {pk, sk: after}`` for the cursor, ``Limit``.

moto (the tests' DynamoDB) differs in ways the tests document: it never deletes expired items (the
adapter's filtering is what the tests observe, as on DynamoDB before TTL runs), and its backend is
not thread-safe — a TransactWriteItems snapshots the whole table while other requests' threads write
to it (an HTTP 500 under load) and restores that snapshot on a failed condition — so the tests' moto
server handles DynamoDB requests one at a time, as DynamoDB applies each atomically
(``tests/support/moto_serial_server.py``); racing transactions are then part of the store contract.

PynamoDB and botocore are imported when a :class:`DynamoStore` is created, never by importing
this module, so the wiring and the HTTP functions pay for them only when this store is configured.
Region and endpoint follow boto conventions (``AWS_DEFAULT_REGION``/``AWS_REGION``,
``AWS_ENDPOINT_URL``/``AWS_ENDPOINT_URL_DYNAMODB``) unless given.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from typing import Any

from pilothouse.clock import Clock
from pilothouse.errors import PayloadTooLarge, PilothouseError, StoreError
from pilothouse.store.base import Check, Delete, Item, Put, Store, Write

TTL_ATTRIBUTE = "expires_at"
MAX_ATTEMPTS = 8  # optimistic retries of unconditional puts and of contended transactions
#: cancellation reasons (TransactWriteItems) and error codes (single writes) worth retrying
_RETRYABLE_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
_RETRYABLE_CODES = {
    "TransactionConflictException",
    "TransactionInProgressException",
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
}


class _ConditionFailed(Exception):
    """A write's condition did not hold; ``indexes`` are the operations whose condition failed."""

    def __init__(self, indexes: list[int]) -> None:
        super().__init__(indexes)
        self.indexes = indexes


class _Contention(Exception):
    """A retryable cancellation (a concurrent transaction on the same item, throttling)."""


def _model_class(table_name: str, region: str | None, host: str | None) -> Any:
    """A PynamoDB model bound to ``table_name`` (PynamoDB binds tables per class).

    Typed ``Any``: the class is built at run time, so a type checker cannot know its attributes."""
    from pynamodb.attributes import NumberAttribute, UnicodeAttribute
    from pynamodb.models import Model

    meta = type(
        "Meta",
        (),
        {
            "table_name": table_name,
            "region": region,
            "host": host,
            "billing_mode": "PAY_PER_REQUEST",
            "connect_timeout_seconds": 5,
            "read_timeout_seconds": 15,
            "max_retry_attempts": 3,
        },
    )
    return type(
        "StoreRecord",
        (Model,),
        {
            "Meta": meta,
            "pk": UnicodeAttribute(hash_key=True),
            "sk": UnicodeAttribute(range_key=True),
            "version": NumberAttribute(),
            "data": UnicodeAttribute(),
            TTL_ATTRIBUTE: NumberAttribute(null=True),
        },
    )


class DynamoStore(Store):
    """The storage port on a DynamoDB table (see the module documentation for the design)."""

    def __init__(
        self,
        table_name: str,
        *,
        region: str | None = None,
        host: str | None = None,
        clock: Clock | None = None,
        create_table: bool = False,
        transaction_scope: str | None = None,
    ) -> None:
        super().__init__(clock, transaction_scope=transaction_scope)
        from pynamodb.exceptions import DoesNotExist, PynamoDBException
        from pynamodb.transactions import TransactWrite

        self.table_name = table_name
        self._Model = _model_class(table_name, region, host)
        self._DoesNotExist = DoesNotExist
        self._PynamoDBException = PynamoDBException
        self._TransactWrite = TransactWrite
        # Create the connection and its botocore client now: lazy creation from several threads
        # at once would build several clients.
        self._connection = self._Model._get_connection().connection
        _ = self._connection.client
        if create_table:
            self.create_table()

    # -- table management --------------------------------------------------------------------

    def create_table(self) -> None:
        """Create the table (on-demand, TTL on ``expires_at``) unless it exists; for dev and tests."""
        try:
            if not self._Model.exists():
                try:
                    self._Model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
                except self._PynamoDBException as exc:
                    if _code(exc) != "ResourceInUseException":  # another process created it first
                        raise
                    self._wait_active()
            ttl = self._connection.client.describe_time_to_live(TableName=self.table_name)
            if ttl.get("TimeToLiveDescription", {}).get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                self._connection.update_time_to_live(self.table_name, TTL_ATTRIBUTE)
        except Exception as exc:
            raise self._store_error("CreateTable", exc) from exc

    def _wait_active(self) -> None:
        for _ in range(100):
            desc = self._connection.client.describe_table(TableName=self.table_name)
            if desc["Table"]["TableStatus"] == "ACTIVE":
                return
            time.sleep(0.1)

    # -- adapter hooks -------------------------------------------------------------------------

    def _get(self, pk: str, sk: str) -> Item | None:
        try:
            record = self._Model.get(pk, sk, consistent_read=True)
        except self._DoesNotExist:
            return None
        except self._PynamoDBException as exc:
            raise self._store_error("GetItem", exc) from exc
        return _to_item(record)

    def _query(self, pk: str, prefix: str, *, after: str | None, limit: int, reverse: bool) -> list[Item]:
        M = self._Model
        start: dict[str, Any] | None = None
        if after is not None:
            # DynamoDB refuses an ExclusiveStartKey outside the key condition; clamp it the way the
            # other adapters' range scans behave (a cursor before the prefix range starts at its
            # beginning; one past it means nothing is left).
            if after.startswith(prefix):
                start = {"pk": {"S": pk}, "sk": {"S": after}}
            elif (after < prefix) != reverse:
                start = None
            else:
                return []
        condition = M.sk.startswith(prefix) if prefix else None
        try:
            results = M.query(
                pk,
                range_key_condition=condition,
                scan_index_forward=not reverse,
                limit=limit,
                page_size=limit,
                last_evaluated_key=start,
                consistent_read=True,
            )
            return [_to_item(r) for r in results]
        except self._PynamoDBException as exc:
            raise self._store_error("Query", exc) from exc

    def _transact(self, operations: list[Write], now: float) -> list[Item]:
        for attempt in range(MAX_ATTEMPTS):
            current = self._read_unconditional_puts(operations)
            plan = [self._plan(op, current.get(i), now) for i, op in enumerate(operations)]
            try:
                if len(plan) == 1:
                    self._write_one(operations[0], *plan[0], now)
                else:
                    self._write_many(operations, plan)
                return [new for new, _ in plan if new is not None]
            except _ConditionFailed as failed:
                self._raise_conflict(operations, failed.indexes, now)  # or retry: the state moved
            except _Contention:
                pass
            time.sleep(min(0.5, 0.01 * 2**attempt) * random.random())
        raise StoreError(f"the store is busy: {len(operations)} operation(s) kept conflicting; retry")

    scan_consistency = (
        "a paginated Scan with strongly consistent reads: each item as it was when its page was read, "
        "not one point in time (a write during the scan may be in the copy or not); DynamoDB's "
        "point-in-time export (ExportTableToPointInTime, the table has PITR) is the snapshot"
    )

    def _scan(self, page_size: int) -> Iterator[Item]:
        try:
            for record in self._Model.scan(consistent_read=True, page_size=page_size):
                yield _to_item(record)
        except self._PynamoDBException as exc:
            raise self._store_error("Scan", exc) from exc

    def export_point_in_time(
        self, *, bucket: str, prefix: str, kms_key_id: str | None, token: str, s3_client: Any = None
    ) -> Any:
        """The table's items through DynamoDB's point-in-time export (see
        :mod:`pilothouse.store.dynamodb_export`); ``s3_client`` defaults to one on this store's
        endpoint when it has one (moto, LocalStack), else AWS's."""
        from pilothouse.store.dynamodb_export import export_encoded

        client = self._connection.client
        if s3_client is None:
            import boto3

            s3_client = boto3.client(
                "s3", region_name=client.meta.region_name, endpoint_url=self._Model.Meta.host or None
            )
        return export_encoded(
            client,
            s3_client,
            self.table_name,
            bucket=bucket,
            prefix=prefix,
            kms_key_id=kms_key_id,
            token=token,
            now=self.clock.time(),
        )

    def _load(self, items: list[Item]) -> None:
        # BatchWriteItem, 25 items a request; PynamoDB resends unprocessed items with back-off
        try:
            with self._Model.batch_write() as batch:
                for item in items:
                    batch.save(self._record(item))
        except self._PynamoDBException as exc:
            raise self._store_error("BatchWriteItem", exc) from exc

    def purge_expired(self) -> int:
        return 0  # DynamoDB TTL deletes expired items; reads already ignore them.

    def close(self) -> None:
        """Nothing to release: botocore pools its HTTP connections per client."""

    # -- writes --------------------------------------------------------------------------------

    def _read_unconditional_puts(self, operations: list[Write]) -> dict[int, Item | None]:
        return {
            i: self._get(op.item.pk, op.item.sk)
            for i, op in enumerate(operations)
            if isinstance(op, Put) and not op.if_absent and op.if_version is None
        }

    def _plan(self, op: Write, current: Item | None, now: float) -> tuple[Item | None, Any]:
        """The item a Put writes (None otherwise) and the condition expression of the operation."""
        M = self._Model
        absent = M.pk.does_not_exist() | (M.expires_at <= now)

        def at(version: int) -> Any:
            return (M.version == version) & (M.expires_at.does_not_exist() | (M.expires_at > now))

        if isinstance(op, Put):
            if op.if_absent or op.if_version is not None:
                conditions = []
                if op.if_absent:
                    conditions.append(absent)
                if op.if_version is not None:
                    conditions.append(at(op.if_version))
                condition = conditions[0] if len(conditions) == 1 else conditions[0] & conditions[1]
                version = op.if_version + 1 if op.if_version is not None and not op.if_absent else 1
            else:  # unconditional: conditioned on the state just read, so the version is exact
                if current is not None and (current.expires_at is None or current.expires_at > now):
                    condition, version = at(current.version), current.version + 1
                else:
                    condition, version = absent, 1
            item = Item(op.item.pk, op.item.sk, op.item.data, version, op.item.expires_at)
            return item, condition
        if isinstance(op, Delete):
            return None, at(op.if_version) if op.if_version is not None else None
        return None, at(op.version)

    def _record(self, item: Item) -> Any:
        return self._Model(
            item.pk,
            item.sk,
            version=item.version,
            data=json.dumps(item.data, separators=(",", ":"), ensure_ascii=False),
            expires_at=item.expires_at,
        )

    def _write_one(self, op: Write, new: Item | None, condition: Any, now: float) -> None:
        try:
            if isinstance(op, Put):
                assert new is not None
                self._record(new).save(condition=condition)
            elif isinstance(op, Delete):
                self._Model(op.pk, op.sk).delete(condition=condition)
            else:  # a lone Check is a consistent read
                found = self._get(op.pk, op.sk)
                self.check_condition(op, found, now)
        except self._PynamoDBException as exc:
            code = _code(exc)
            if code == "ConditionalCheckFailedException":
                raise _ConditionFailed([0]) from exc
            if code in _RETRYABLE_CODES:
                raise _Contention from exc
            raise self._store_error("PutItem" if isinstance(op, Put) else "DeleteItem", exc) from exc

    def _write_many(self, operations: list[Write], plan: list[tuple[Item | None, Any]]) -> None:
        # PynamoDB sends condition checks, then deletes, then puts; keep that order to map the
        # cancellation reasons (one per transaction item, in request order) back to operations.
        order = (
            [i for i, op in enumerate(operations) if isinstance(op, Check)]
            + [i for i, op in enumerate(operations) if isinstance(op, Delete)]
            + [i for i, op in enumerate(operations) if isinstance(op, Put)]
        )
        try:
            with self._TransactWrite(connection=self._connection) as tx:
                for i in order:
                    op, (new, condition) = operations[i], plan[i]
                    if isinstance(op, Check):
                        tx.condition_check(self._Model, op.pk, op.sk, condition=condition)
                    elif isinstance(op, Delete):
                        tx.delete(self._Model(op.pk, op.sk), condition=condition)
                    else:
                        assert new is not None  # _plan gives every Put its new item
                        tx.save(self._record(new), condition=condition)
        except self._PynamoDBException as exc:
            code = _code(exc)
            if code == "TransactionCanceledException":
                reasons = list(getattr(exc, "cancellation_reasons", []) or [])
                codes = [r.code if r is not None else None for r in reasons]
                failed = [
                    order[n] for n, c in enumerate(codes[: len(order)]) if c == "ConditionalCheckFailed"
                ]
                if failed:
                    raise _ConditionFailed(sorted(failed)) from exc
                if not codes or any(c in _RETRYABLE_REASONS for c in codes):
                    raise _Contention from exc
                bad = next(c for c in codes if c is not None)
                raise self._store_error("TransactWriteItems", exc, code=bad) from exc
            if code in _RETRYABLE_CODES:
                raise _Contention from exc
            raise self._store_error("TransactWriteItems", exc) from exc

    def _raise_conflict(self, operations: list[Write], indexes: list[int], now: float) -> None:
        """Raise the Conflict the base class would, from a fresh read of the failed items; return
        (to retry) if only the implicit "unchanged since read" condition of an unconditional put
        failed, or if the item has since returned to the expected state."""
        for i in indexes:
            op = operations[i]
            pk, sk = (op.item.pk, op.item.sk) if isinstance(op, Put) else (op.pk, op.sk)
            self.check_condition(op, self._get(pk, sk), now)

    # -- errors --------------------------------------------------------------------------------

    def _store_error(self, action: str, exc: BaseException, *, code: str | None = None) -> PilothouseError:
        code = code or _code(exc) or type(getattr(exc, "cause", None) or exc).__name__
        message = _message(exc)
        if code == "ValidationException" and "size" in message.lower():
            return PayloadTooLarge(f"the record is larger than DynamoDB allows (400 KB): {message}")
        if code == "ResourceNotFoundException":
            message = f"table {self.table_name!r} not found ({message})"
        return StoreError(f"DynamoDB {action} failed: {code}: {message}", extra={"store_error": code})


def _code(exc: BaseException) -> str | None:
    code = getattr(exc, "cause_response_code", None)
    if code:
        return code
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def _message(exc: BaseException) -> str:
    return getattr(exc, "cause_response_message", None) or str(getattr(exc, "cause", None) or exc)


def _to_item(record: Any) -> Item:
    return Item(
        record.pk,
        record.sk,
        json.loads(record.data),
        int(record.version),
        record.expires_at,
    )
