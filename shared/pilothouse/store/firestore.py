"""Firestore store: the storage port on one Firestore (Native mode) collection.

Layout
======

Every :class:`Item` is one document of one collection (``collection``, default ``pilothouse``):

===============  =========  ===================================================================
field            type       content
===============  =========  ===================================================================
``pk``, ``sk``   string     the partition and sort keys, exactly as given
``key``          string     ``<UTF-8 length of pk, 5 digits>:<pk>:<sk>``: the one indexed field
                            queries range over and order by (below)
``version``      integer    the store-maintained version
``data``         string     the JSON document, compact (as on DynamoDB: any nesting, empty maps,
                            arrays of arrays and ``null`` round-trip; Firestore maps would refuse
                            some). Exempt it from indexing (a ``google_firestore_field`` override)
``expires_at``   double     epoch seconds, or null
``expire_time``  timestamp  the same instant, or null: the field a Firestore TTL policy names
===============  =========  ===================================================================

**Why one field ``key``.** A partition's items whose sort key starts with a prefix are the
documents whose ``key`` lies in ``[base + prefix, base + prefix + U+10FFFF)`` with
``base = "<len>:<pk>:"``: within one partition the base is the same, so ``key`` order is sort-key
order; another partition cannot share the base (a different pk of the same UTF-8 length differs
inside it). So a partition query, forwards or in reverse, paged by ``key > / < base + after``, is
a range on a single field: Firestore's automatic single-field index serves it (both directions)
and no composite index is needed. ``scan`` pages over the same field. Firestore orders strings
by UTF-8 bytes, which is code-point order, as SQLite and Python do.

**Document ids.** Firestore refuses ``/`` in an id, the ids ``.`` and ``..``, ids matching
``__.*__`` and ids over 1,500 bytes. The id is ``key`` with ``%`` and ``/`` percent-escaped (it
starts with a digit, so it is never ``.``/``..``/``__x__``); one whose escaped form is over 1,500
bytes is ``h`` + the SHA-256 of ``key`` (ids of the other kind start with a digit: no collision).
Ids are never parsed back: the keys are read from ``pk``/``sk``. A ``key`` over 1,500 bytes is
refused (400): Firestore truncates longer indexed values, and range queries on them would be wrong.

Semantics
=========

- **Transactions** span documents (``transaction_scope = "store"``). :meth:`_transact` runs in a
  Firestore transaction: it reads every document the operations name (in the transaction, so
  Firestore locks them until the commit), checks every condition in Python (the base class's
  ``check_condition``: expired documents count as absent), then writes. Each write also carries a
  precondition: ``exists=false`` for a document that was absent, ``update_time`` = the time read
  for one that was there. Contention (``ABORTED``) is retried by the client library's
  ``transactional`` helper; a precondition that fails at commit re-runs the whole transaction
  from its reads, which then raise the right Conflict.
- A lone ``put(if_absent=True)`` is one ``create`` (a commit with ``exists=false``), with no
  transaction; if a (expired) document is in the way it falls back to the transaction.
- **Reads** (get, queries) are strongly consistent, as Firestore's always are.
- **Expiry** is filtered on read by the base class; a TTL policy on ``expire_time`` (see the
  Terraform) deletes expired documents within about a day. :meth:`purge_expired` deletes the
  expired documents it finds (each with an ``update_time`` precondition, so a document renewed
  meanwhile stays).
- **Scan** pages with one fixed ``read_time`` (Firestore's snapshot reads, up to an hour back), so
  a scan that ends within the hour is one point in time.

Tested against the npm ``@firestore-emulator/server`` (``tests/support/firestore_emulator.py``).
That emulator hands every transaction the same dummy id and takes no locks, ignores ``update_time``
preconditions and ``read_time``, and applies a commit's writes one by one (a failing precondition
leaves the earlier writes applied): only the ``exists`` preconditions hold there. So on the emulator
conditional writes racing on an *existing* document can both win; the contract's race test
documents it (``tests/contract/test_store_contract.py``). Everything else the contract checks holds.

The SDK is imported when a :class:`FirestoreStore` is created, never by importing this module.
Project and emulator follow the SDK's settings (``GOOGLE_CLOUD_PROJECT``,
``FIRESTORE_EMULATOR_HOST``) unless given.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from typing import Any

from pilothouse.clock import Clock
from pilothouse.errors import BadRequest, PayloadTooLarge, PilothouseError, StoreError
from pilothouse.store.base import Delete, Item, Put, Store, Write, prefix_end

MAX_KEY_BYTES = 1500
MAX_ID_BYTES = 1500
MAX_ATTEMPTS = 8  # transactions re-run after contention or a precondition failed at commit
_LOAD_BATCH = 400  # a Firestore batch takes up to 500 writes


def key_of(pk: str, sk: str) -> str:
    """The indexed ``key`` field of an item (see the module documentation)."""
    return f"{_base(pk)}{sk}"


def _base(pk: str) -> str:
    return f"{len(pk.encode('utf-8')):05d}:{pk}:"


def document_id(pk: str, sk: str) -> str:
    """The document id of an item: ``key`` percent-escaped, or ``h`` + its SHA-256 when too long."""
    key = key_of(pk, sk)
    escaped = key.replace("%", "%25").replace("/", "%2F")
    if len(escaped.encode("utf-8")) <= MAX_ID_BYTES:
        return escaped
    return "h" + hashlib.sha256(key.encode("utf-8")).hexdigest()


class FirestoreStore(Store):
    """The storage port on a Firestore collection (see the module documentation for the design).

    ``client`` (a ``google.cloud.firestore.Client``) wins over ``project``/``database``."""

    def __init__(
        self,
        collection: str = "pilothouse",
        *,
        project: str | None = None,
        database: str | None = None,
        client: Any = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock)
        from google.api_core import exceptions as gexc
        from google.cloud import firestore

        self._fs = firestore
        self._gexc = gexc
        if client is None:
            kwargs: dict[str, Any] = {"project": project}
            if database:
                kwargs["database"] = database
            client = firestore.Client(**kwargs)
        self._client = client
        self.collection = collection
        self._coll = client.collection(collection)

    # -- encoding ------------------------------------------------------------------------------

    def _ref(self, pk: str, sk: str) -> Any:
        if len(key_of(pk, sk).encode("utf-8")) > MAX_KEY_BYTES:
            raise BadRequest(
                f"partition and sort key together may be at most {MAX_KEY_BYTES - 7} bytes on Firestore",
                extra={"field": "key"},
            )
        return self._coll.document(document_id(pk, sk))

    def _fields(self, item: Item) -> dict[str, Any]:
        expire_time = (
            dt.datetime.fromtimestamp(item.expires_at, tz=dt.UTC) if item.expires_at is not None else None
        )
        return {
            "pk": item.pk,
            "sk": item.sk,
            "key": key_of(item.pk, item.sk),
            "version": item.version,
            "data": json.dumps(item.data, separators=(",", ":"), ensure_ascii=False),
            "expires_at": float(item.expires_at) if item.expires_at is not None else None,
            "expire_time": expire_time,
        }

    @staticmethod
    def _item(snapshot: Any) -> Item | None:
        if not snapshot.exists:
            return None
        d = snapshot.to_dict()
        expires = d.get("expires_at")
        return Item(d["pk"], d["sk"], json.loads(d["data"]), int(d["version"]), expires)

    # -- adapter hooks -------------------------------------------------------------------------

    def _get(self, pk: str, sk: str) -> Item | None:
        ref = self._ref(pk, sk)
        try:
            return self._item(ref.get())
        except self._gexc.GoogleAPICallError as exc:
            raise self._error("get", exc) from exc

    def _query(self, pk: str, prefix: str, *, after: str | None, limit: int, reverse: bool) -> list[Item]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        base = _base(pk)
        lo, hi = base + prefix, base + prefix_end(prefix)
        if len(lo.encode("utf-8")) > MAX_KEY_BYTES:
            return []
        q = self._coll.where(filter=FieldFilter("key", ">=", lo)).where(filter=FieldFilter("key", "<", hi))
        if after is not None:
            q = q.where(filter=FieldFilter("key", "<" if reverse else ">", base + after))
        direction = self._fs.Query.DESCENDING if reverse else self._fs.Query.ASCENDING
        q = q.order_by("key", direction=direction).limit(limit)
        try:
            items = [self._item(s) for s in q.stream()]
        except self._gexc.GoogleAPICallError as exc:
            raise self._error("query", exc) from exc
        # the range already holds only this partition's prefix; the check keeps a truncated index
        # value (never written: keys are bounded) from leaking another item in
        return [i for i in items if i is not None and i.pk == pk and i.sk.startswith(prefix)]

    def _transact(self, operations: list[Write], now: float) -> list[Item]:
        if len(operations) == 1 and isinstance(operations[0], Put) and operations[0].if_absent:
            created = self._create(operations[0].item)
            if created is not None:
                return [created]
        refs = [
            self._ref(op.item.pk, op.item.sk) if isinstance(op, Put) else self._ref(op.pk, op.sk)
            for op in operations
        ]
        for _ in range(MAX_ATTEMPTS):
            transaction = self._client.transaction(max_attempts=MAX_ATTEMPTS)
            try:
                return self._fs.transactional(self._run)(transaction, operations, refs, now)
            except (self._gexc.Conflict, self._gexc.FailedPrecondition, self._gexc.NotFound):
                continue  # a precondition failed at commit (or contention outlasted the retries)
            except self._gexc.GoogleAPICallError as exc:
                raise self._error("commit", exc) from exc
        raise StoreError(f"the store is busy: {len(operations)} operation(s) kept conflicting; retry")

    def _run(self, transaction: Any, operations: list[Write], refs: list[Any], now: float) -> list[Item]:
        snapshots = {s.reference.path: s for s in transaction.get_all(refs)}
        found = [snapshots.get(ref.path) for ref in refs]
        current = [self._item(s) if s is not None else None for s in found]
        for op, item in zip(operations, current, strict=True):
            self.check_condition(op, item, now)
        written: list[Item] = []
        for op, ref, snap, item in zip(operations, refs, found, current, strict=True):
            exists = snap is not None and snap.exists
            unchanged = (
                self._client.write_option(last_update_time=snap.update_time)
                if snap is not None and snap.exists
                else None
            )
            if isinstance(op, Put):
                new = self.next_version(op, item, now)
                if exists:
                    transaction.update(ref, self._fields(new), option=unchanged)
                else:
                    transaction.create(ref, self._fields(new))
                written.append(new)
            elif isinstance(op, Delete) and exists:
                transaction.delete(ref, option=unchanged)
        return written

    def _create(self, item: Item) -> Item | None:
        """A lone put-if-absent as one create; None if a document (maybe expired) is in the way."""
        new = Item(item.pk, item.sk, item.data, 1, item.expires_at)
        try:
            self._ref(item.pk, item.sk).create(self._fields(new))
        except (self._gexc.AlreadyExists, self._gexc.Conflict):
            return None
        except self._gexc.GoogleAPICallError as exc:
            raise self._error("create", exc) from exc
        return new

    scan_consistency = (
        "paged queries at one read_time fixed when the scan begins (Firestore's snapshot reads, up to "
        "an hour back): one point in time for a scan that ends within the hour; the managed export "
        "(or PITR) is the snapshot beyond that. The emulator ignores read_time"
    )

    def _scan(self, page_size: int) -> Iterator[Item]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        read_time = dt.datetime.now(tz=dt.UTC)
        last: str | None = None
        while True:
            q = self._coll.order_by("key").limit(page_size)
            if last is not None:
                q = self._coll.where(filter=FieldFilter("key", ">", last)).order_by("key").limit(page_size)
            try:
                page = [s for s in self._stream(q, read_time)]
            except self._gexc.GoogleAPICallError as exc:
                raise self._error("scan", exc) from exc
            for snapshot in page:
                item = self._item(snapshot)
                if item is not None:
                    yield item
            if len(page) < page_size:
                return
            last = page[-1].get("key")

    def _stream(self, query: Any, read_time: dt.datetime) -> list[Any]:
        try:
            return list(query.stream(read_time=read_time))
        except self._gexc.InvalidArgument:
            # older than Firestore keeps versions (over an hour): read the present
            return list(query.stream())

    def _load(self, items: list[Item]) -> None:
        for start in range(0, len(items), _LOAD_BATCH):
            batch = self._client.batch()
            for item in items[start : start + _LOAD_BATCH]:
                batch.set(self._ref(item.pk, item.sk), self._fields(item))
            try:
                batch.commit()
            except self._gexc.GoogleAPICallError as exc:
                raise self._error("load", exc) from exc

    def purge_expired(self) -> int:
        from google.cloud.firestore_v1.base_query import FieldFilter

        now = self.clock.time()
        purged = 0
        query = self._coll.where(filter=FieldFilter("expires_at", "<=", now))
        try:
            for snapshot in query.stream():
                option = self._client.write_option(last_update_time=snapshot.update_time)
                try:
                    snapshot.reference.delete(option=option)
                    purged += 1
                except (self._gexc.FailedPrecondition, self._gexc.NotFound):
                    continue  # renewed or deleted meanwhile
        except self._gexc.GoogleAPICallError as exc:
            raise self._error("purge", exc) from exc
        return purged

    def close(self) -> None:
        """Close the client's gRPC channel."""
        close = getattr(self._client, "close", None)
        if close is not None:
            close()

    # -- errors --------------------------------------------------------------------------------

    def _error(self, action: str, exc: BaseException) -> PilothouseError:
        code = type(exc).__name__
        message = getattr(exc, "message", None) or str(exc)
        if isinstance(exc, self._gexc.InvalidArgument) and (
            "size" in message.lower() or "too big" in message.lower() or "exceeds" in message.lower()
        ):
            return PayloadTooLarge(f"the record is larger than Firestore allows (1 MiB): {message}")
        return StoreError(f"Firestore {action} failed: {code}: {message}", extra={"store_error": code})
