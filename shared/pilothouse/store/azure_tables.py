"""Azure Table store: the storage port on the Azure Table API (Azure Table Storage, or Cosmos DB for
Table), through ``azure-data-tables``.

Table
=====

One table (``settings.table_name``). Each :class:`Item` is one entity:

==================  ========  =======================================================================
property            type      content
==================  ========  =======================================================================
``PartitionKey``    String    the partition key, escaped (:mod:`pilothouse.store.azure_keys`: Azure
                              forbids ``/ \\ # ?`` and control characters; the escape keeps order
                              and prefixes, so prefix queries and reverse listings still work)
``RowKey``          String    the sort key, escaped the same way
``v``               Int32     the store-maintained version (1 on create, +1 on every write)
``x``               Double    optional: ``expires_at`` (epoch seconds)
``n``, ``d0``...    Int32,    the JSON document (compact) cut into ``n`` pieces of at most 32,000
                    String    UTF-16 code units (Azure: 64 KiB per string property, stored as
                              UTF-16). At most 15 pieces, 480,000 units: an entity stays under
                              Azure's 1 MiB. A larger document is a 413
                              (:class:`~pilothouse.errors.PayloadTooLarge`), as past DynamoDB's 400 KB.
==================  ========  =======================================================================

Semantics
=========

- **Transactions** are Azure *entity group transactions*: all operations in one partition, at most
  100 (the port allows 25). ``transaction_scope = "partition"``: the base class refuses a wider
  transaction with :class:`~pilothouse.errors.TransactionScopeError` before anything is sent;
  nothing here pretends to commit two partitions together.
- **Versions and conditions.** The version is our property; the *condition* is Azure's ETag. A
  write first reads the items it touches (point reads), checks the port's conditions against them
  (raising :class:`~pilothouse.errors.AlreadyExists` / :class:`~pilothouse.errors.VersionConflict`
  as every adapter does), then sends each operation conditioned on what it read: an item that
  exists is replaced or deleted with ``If-Match: <its ETag>``, an absent one is *inserted* (which
  fails if it exists). If any condition fails, someone wrote in between: the whole operation starts
  again from the reads (which then raise the conflict, or succeed for an unconditional put), at most
  32 times. ``put(if_absent=True)`` alone skips the read: it inserts, and reads only if the insert
  finds an item (which may have expired).
- **Check** in a transaction is honest: a *merge* of no properties with ``If-Match`` on the ETag
  read. It changes no data and no version, but Azure gives the entity a new ETag (a concurrent
  writer conditioned on the old one re-reads and goes on). A lone ``Check`` is a point read.
- **Expiry.** Azure Tables has no per-entity TTL: the base class filters expired items on read,
  conditions treat them as absent, and :meth:`purge_expired` deletes them (a query on ``x``, each
  delete conditioned on the ETag it saw, so an item rewritten meanwhile stays).
- **Reads.** Point reads and queries are strongly consistent (Table Storage; Cosmos DB for Table
  with its default Strong/Session consistency). A query is ``PartitionKey eq @pk and RowKey ge @lo
  and RowKey lt @hi``. The Table API lists only in ascending key order: a *reverse* query reads the
  whole range below its cursor and keeps the last page (cost grows with the partition; the
  partitions listed newest-first are bounded by their repositories' retention).
- **Scan** pages through the whole table (not a point-in-time snapshot); **load** upserts
  (replace) in entity group transactions of up to 100 items of one partition.

Connection: a connection string (``AZURE_STORAGE_CONNECTION_STRING``, what Azurite's tests use and
Cosmos DB for Table's keys give), or an endpoint (``https://<account>.table.core.windows.net``)
with a token credential (managed identity). The SDK is imported when a store is created, never by
importing this module.
"""

from __future__ import annotations

import collections
import json
import random
import time
from collections.abc import Iterator
from typing import Any

from pilothouse.clock import Clock
from pilothouse.errors import BadRequest, PayloadTooLarge, StoreError
from pilothouse.store.azure_keys import decode_key, encode_key, prefix_upper_bound
from pilothouse.store.base import Delete, Item, Put, Store, Write

#: reads-and-writes of one operation before it gives up (503): each retry follows a write someone
#: else made, so the store as a whole always progresses; a hot item's writers may take turns
MAX_ATTEMPTS = 32
PIECE_UNITS = 32_000
MAX_PIECES = 15
MAX_DOCUMENT_UNITS = PIECE_UNITS * MAX_PIECES
#: Azure's limit on PartitionKey / RowKey (1 KiB, UTF-16)
MAX_KEY_UNITS = 512
BATCH_LIMIT = 100
#: Azure error codes saying the state moved since our read (retry from the read)
_MOVED = {"EntityAlreadyExists", "UpdateConditionNotSatisfied", "ResourceNotFound", "ConditionNotMet"}
_TOO_LARGE = {"EntityTooLarge", "PropertyValueTooLarge", "RequestBodyTooLarge", "RequestEntityTooLarge"}
_BUSY = {"ServerBusy", "OperationTimedOut", "InternalError", "TooManyRequests"}


class _Moved(Exception):
    """A condition based on our read failed: someone wrote in between."""


class AzureTableStore(Store):
    """The storage port on one Azure table (see the module documentation)."""

    transaction_scope = "partition"

    scan_consistency = (
        "a paginated listing of the table: each entity as it was when its page was read, not one "
        "point in time (a write during the scan may be in the copy or not)"
    )

    def __init__(
        self,
        table_name: str,
        *,
        connection_string: str | None = None,
        endpoint: str | None = None,
        credential: Any = None,
        clock: Clock | None = None,
        create_table: bool = False,
    ) -> None:
        super().__init__(clock)
        from azure.core import MatchConditions
        from azure.core.exceptions import (
            HttpResponseError,
            ResourceExistsError,
            ResourceModifiedError,
            ResourceNotFoundError,
        )
        from azure.data.tables import TableServiceClient, TableTransactionError, UpdateMode

        if connection_string:
            service = TableServiceClient.from_connection_string(connection_string)
        elif endpoint:
            service = TableServiceClient(endpoint=endpoint, credential=credential)
        else:
            raise StoreError("the Azure table store needs a connection string or an endpoint")
        self.table_name = table_name
        self._service = service
        self._table = service.get_table_client(table_name)
        self._if_match = MatchConditions.IfNotModified
        self._unconditionally = MatchConditions.Unconditionally
        self._replace, self._merge = UpdateMode.REPLACE, UpdateMode.MERGE
        self._HttpResponseError = HttpResponseError
        self._Exists = ResourceExistsError
        self._Modified = ResourceModifiedError
        self._NotFound = ResourceNotFoundError
        self._TransactionError = TableTransactionError
        if create_table:
            self.create_table()

    def create_table(self) -> None:
        """Create the table unless it exists (development and tests; deployments get it from Bicep)."""
        try:
            self._service.create_table_if_not_exists(self.table_name)
        except self._HttpResponseError as exc:
            raise self._error("CreateTable", exc) from exc

    # -- encoding ------------------------------------------------------------------------------

    @staticmethod
    def _keys(pk: str, sk: str) -> tuple[str, str]:
        epk, esk = encode_key(pk), encode_key(sk)
        for name, value in (("pk", epk), ("sk", esk)):
            if len(value.encode("utf-16-le")) // 2 > MAX_KEY_UNITS:
                raise BadRequest(
                    f"the {name} is too long for an Azure table key (1 KiB after escaping)",
                    extra={"field": name},
                )
        return epk, esk

    def _entity(self, item: Item) -> dict[str, Any]:
        pieces = _pieces(json.dumps(item.data, separators=(",", ":"), ensure_ascii=False))
        epk, esk = self._keys(item.pk, item.sk)
        entity: dict[str, Any] = {"PartitionKey": epk, "RowKey": esk, "v": item.version, "n": len(pieces)}
        entity.update({f"d{i}": piece for i, piece in enumerate(pieces)})
        if item.expires_at is not None:
            entity["x"] = float(item.expires_at)
        return entity

    @staticmethod
    def _item(entity: Any) -> Item:
        text = "".join(entity[f"d{i}"] for i in range(int(entity["n"])))
        expires = entity.get("x")
        return Item(
            decode_key(entity["PartitionKey"]),
            decode_key(entity["RowKey"]),
            json.loads(text),
            int(entity["v"]),
            float(expires) if expires is not None else None,
        )

    # -- adapter hooks -------------------------------------------------------------------------

    def _read(self, pk: str, sk: str) -> tuple[Item, str] | None:
        """The stored item and its ETag, or None."""
        epk, esk = self._keys(pk, sk)
        try:
            entity = self._table.get_entity(epk, esk)
        except self._NotFound:
            return None
        except self._HttpResponseError as exc:
            raise self._error("GetEntity", exc) from exc
        return self._item(entity), str(entity.metadata["etag"])

    def _get(self, pk: str, sk: str) -> Item | None:
        found = self._read(pk, sk)
        return found[0] if found else None

    def _query(self, pk: str, prefix: str, *, after: str | None, limit: int, reverse: bool) -> list[Item]:
        epk = self._keys(pk, "")[0]
        lo, hi = encode_key(prefix), prefix_upper_bound(encode_key(prefix))
        clauses, params = ["PartitionKey eq @pk"], {"pk": epk}
        if lo:
            clauses.append("RowKey ge @lo")
            params["lo"] = lo
        if after is not None:
            eafter = encode_key(after)
            if reverse:
                hi = eafter if hi is None or eafter < hi else hi
            else:
                clauses.append("RowKey gt @after")
                params["after"] = eafter
        if hi is not None:
            clauses.append("RowKey lt @hi")
            params["hi"] = hi
        try:
            pages = self._table.query_entities(
                " and ".join(clauses), parameters=params, results_per_page=min(1000, max(limit, 10))
            )
            if not reverse:
                out: list[Item] = []
                for entity in pages:
                    out.append(self._item(entity))
                    if len(out) >= limit:
                        break
                return out
            tail: collections.deque[Any] = collections.deque(maxlen=limit)
            tail.extend(pages)  # ascending only: keep the last `limit` entities of the range
            return [self._item(entity) for entity in reversed(tail)]
        except self._HttpResponseError as exc:
            raise self._error("QueryEntities", exc) from exc

    def _transact(self, operations: list[Write], now: float) -> list[Item]:
        if len(operations) == 1 and isinstance(operations[0], Put) and operations[0].if_absent:
            inserted = self._try_insert(operations[0].item)
            if inserted is not None:
                return [inserted]
        for attempt in range(MAX_ATTEMPTS):
            current = [self._read(*_key(op)) for op in operations]
            for op, found in zip(operations, current, strict=True):
                self.check_condition(op, found[0] if found else None, now)
            written: list[Item] = []
            steps: list[tuple[Any, ...]] = []
            for op, found in zip(operations, current, strict=True):
                step = self._step(op, found, now, written)
                if step is not None:
                    steps.append(step)
            try:
                self._send(steps, lone_check=len(operations) == 1)
                return written
            except _Moved:
                time.sleep(min(0.25, 0.005 * 2**attempt) * random.random())
        raise StoreError(f"the store is busy: {len(operations)} operation(s) kept conflicting; retry")

    def _try_insert(self, item: Item) -> Item | None:
        """Insert a new item (version 1); None if one is stored (maybe expired: the caller decides)."""
        new = Item(item.pk, item.sk, item.data, 1, item.expires_at)
        try:
            self._table.create_entity(self._entity(new))
        except self._Exists:
            return None
        except self._HttpResponseError as exc:
            raise self._error("InsertEntity", exc) from exc
        return new

    def _step(
        self, op: Write, found: tuple[Item, str] | None, now: float, written: list[Item]
    ) -> tuple[Any, ...] | None:
        """The transaction action of one operation, conditioned on what was read (None: nothing to send)."""
        etag = found[1] if found else None
        conditioned = {"etag": etag, "match_condition": self._if_match}
        if isinstance(op, Put):
            new = self.next_version(op, found[0] if found else None, now)
            written.append(new)
            if found is None:
                return ("create", self._entity(new))
            return ("update", self._entity(new), {"mode": self._replace, **conditioned})
        epk, esk = self._keys(*_key(op))
        if isinstance(op, Delete):
            return None if found is None else ("delete", {"PartitionKey": epk, "RowKey": esk}, conditioned)
        # a Check: a merge of no properties, conditioned on the ETag (data and version unchanged)
        return ("update", {"PartitionKey": epk, "RowKey": esk}, {"mode": self._merge, **conditioned})

    def _send(self, steps: list[tuple[Any, ...]], *, lone_check: bool) -> None:
        if not steps or (lone_check and steps[0][0] == "update" and steps[0][2]["mode"] is self._merge):
            return  # nothing to write; a lone Check was the read itself
        if len(steps) == 1:
            action, entity, *rest = steps[0]
            options = rest[0] if rest else {}
            try:
                if action == "create":
                    self._table.create_entity(entity)
                elif action == "update":
                    self._table.update_entity(entity, **options)
                else:
                    self._table.delete_entity(entity, **options)
            except (self._Exists, self._Modified, self._NotFound) as exc:
                raise _Moved from exc
            except self._HttpResponseError as exc:
                if _code(exc) in _MOVED or getattr(exc, "status_code", None) == 412:
                    raise _Moved from exc
                raise self._error(action, exc) from exc
            return
        try:
            self._table.submit_transaction(steps)
        except self._TransactionError as exc:
            if _code(exc) in _MOVED or getattr(exc, "status_code", None) == 412:
                raise _Moved from exc
            raise self._error("EntityGroupTransaction", exc) from exc
        except self._HttpResponseError as exc:
            raise self._error("EntityGroupTransaction", exc) from exc

    def _scan(self, page_size: int) -> Iterator[Item]:
        try:
            for entity in self._table.list_entities(results_per_page=min(page_size, 1000)):
                yield self._item(entity)
        except self._HttpResponseError as exc:
            raise self._error("QueryEntities", exc) from exc

    def _load(self, items: list[Item]) -> None:
        by_partition: dict[str, list[Item]] = {}
        for item in items:
            by_partition.setdefault(item.pk, []).append(item)
        for group in by_partition.values():
            latest = {item.sk: item for item in group}  # one action per entity in a transaction
            ordered = list(latest.values())
            for start in range(0, len(ordered), BATCH_LIMIT):
                chunk = ordered[start : start + BATCH_LIMIT]
                steps = [("upsert", self._entity(i), {"mode": self._replace}) for i in chunk]
                try:
                    self._table.submit_transaction(steps)
                except self._HttpResponseError as exc:
                    raise self._error("EntityGroupTransaction", exc) from exc

    def purge_expired(self) -> int:
        """Delete the expired entities (Azure Tables has no TTL); return how many went."""
        now = self.clock.time()
        removed = 0
        try:
            expired = list(self._table.query_entities("x le @now", parameters={"now": float(now)}))
        except self._HttpResponseError as exc:
            raise self._error("QueryEntities", exc) from exc
        for entity in expired:
            try:
                self._table.delete_entity(
                    entity["PartitionKey"],
                    entity["RowKey"],
                    etag=entity.metadata["etag"],
                    match_condition=self._if_match,
                )
                removed += 1
            except (self._Modified, self._NotFound):
                continue  # rewritten or removed meanwhile: not ours to delete
            except self._HttpResponseError as exc:
                if getattr(exc, "status_code", None) == 412:
                    continue
                raise self._error("DeleteEntity", exc) from exc
        return removed

    def close(self) -> None:
        self._table.close()
        self._service.close()

    # -- errors --------------------------------------------------------------------------------

    def _error(self, action: str, exc: BaseException) -> StoreError | PayloadTooLarge:
        code = _code(exc) or type(exc).__name__
        message = str(getattr(exc, "message", None) or exc).splitlines()[0][:300]
        if code in _TOO_LARGE or getattr(exc, "status_code", None) == 413:
            return PayloadTooLarge(f"the record is larger than Azure Tables allows: {code}: {message}")
        if code == "TableNotFound":
            message = f"table {self.table_name!r} not found ({message})"
        return StoreError(f"Azure Tables {action} failed: {code}: {message}", extra={"store_error": code})


def _pieces(text: str) -> list[str]:
    """``text`` cut into strings of at most PIECE_UNITS UTF-16 code units (never inside a surrogate
    pair); PayloadTooLarge past MAX_PIECES of them."""
    raw = text.encode("utf-16-le", errors="surrogatepass")
    if len(raw) > MAX_DOCUMENT_UNITS * 2:
        raise PayloadTooLarge(
            f"the record is {len(raw) // 2} UTF-16 units of JSON; the Azure table store keeps at most "
            f"{MAX_DOCUMENT_UNITS} (Azure allows 64 KiB per property and 1 MiB per entity)"
        )
    pieces: list[str] = []
    start = 0
    while start < len(raw):
        end = min(len(raw), start + PIECE_UNITS * 2)
        if end < len(raw) and 0xD800 <= int.from_bytes(raw[end - 2 : end], "little") < 0xDC00:
            end -= 2  # keep a surrogate pair in one piece
        pieces.append(raw[start:end].decode("utf-16-le", errors="surrogatepass"))
        start = end
    return pieces or [""]


def _key(op: Write) -> tuple[str, str]:
    return (op.item.pk, op.item.sk) if isinstance(op, Put) else (op.pk, op.sk)


def _code(exc: BaseException) -> str | None:
    code = getattr(exc, "error_code", None)
    return str(code.value if hasattr(code, "value") else code) if code else None
