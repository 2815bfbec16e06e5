"""The writes of an execution's step: its transaction, what goes ahead of it and what after.

A step writes its record, the history it drained and the pieces its record names: map-run chunks
(:mod:`pilothouse.repositories.execution_chunks`) and a large record's body or history pieces
(:mod:`pilothouse.repositories.execution_bodies`). Pieces are immutable and named by nobody until
the record that names them commits, so those that do not fit the store's transaction (25
operations, and a bounded size: DynamoDB refuses a transaction over 4 MB) are written *ahead* of
it, each on its own; the deletes of pieces it stopped naming go with it or after it. A step that
loses its race drops what it wrote ahead; what a killed worker wrote ahead is an orphan, dropped
when the execution ends (:func:`drop_orphans`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

from pilothouse.ports import Delete, Item, Put, Write
from pilothouse.repositories import execution_bodies as bodies
from pilothouse.repositories.execution_bodies import piece_size
from pilothouse.repositories.execution_chunks import chunk_size, orphans
from pilothouse.services.context import ServiceContext

log = logging.getLogger(__name__)

MAX_TRANSACTION = 25  # what every store commits atomically (``pilothouse.ports.store``)
#: the piece text a step's transaction carries at most (DynamoDB refuses a transaction over 4 MB;
#: the record and its history item take up to 400 KB each); more pieces are written ahead of it
CHUNK_TRANSACTION_CHARS = 2_000_000


def compose(
    item: Item,
    data: dict,
    history: list[Write],
    extra: list[Write],
    pieces: list[Write],
    deletes: list[Write],
) -> tuple[list[Write], list[Write], list[Write]]:
    """The step's transaction: the record (first), its history item, ``extra`` and the pieces it
    names (state chunks, :mod:`~pilothouse.repositories.execution_chunks`; body and history pieces,
    :mod:`~pilothouse.repositories.execution_bodies`), all in the execution's own partition
    (``extra`` must keep to it too), and the deletes of those it stopped naming; what goes *ahead*
    of it: the pieces that do not fit the store's 25 operations or :data:`CHUNK_TRANSACTION_CHARS`
    (each written on its own before the record that names them); and what is left for after the
    commit: the deletes that did not fit (garbage no record names)."""
    ops: list[Write] = [Put(Item(item.pk, item.sk, data), if_version=item.version), *extra]
    movable = [w for w in history if _piece_chars(w)] + pieces
    ops += [w for w in history if not _piece_chars(w)]
    ahead: list[Write] = []
    size = 0
    for put in movable:
        n = _piece_chars(put)
        if len(ops) < MAX_TRANSACTION and (size + n <= CHUNK_TRANSACTION_CHARS or size == 0):
            ops.append(put)
            size += n
        else:
            ahead.append(put)
    room = max(0, MAX_TRANSACTION - len(ops))
    return ops + deletes[:room], ahead, deletes[room:]


def _piece_chars(write: Write) -> int:
    """The text a piece put carries (0: not a piece, one that must stay in the transaction)."""
    return chunk_size(write) or piece_size(write)


def write_ahead(services: ServiceContext, ahead: list[Write]) -> None:
    """Write the chunks a step names but cannot carry in its transaction, before it."""
    for put in ahead:
        services.store.transact([put])


def drop(services: ServiceContext, writes: Sequence[Write]) -> None:
    """Best effort: delete what ``writes`` put (chunks written ahead of a step that lost its race)
    or delete (chunks left over by a committed step); what fails is garbage no record names."""
    for w in writes:
        gone = Delete(w.item.pk, w.item.sk) if isinstance(w, Put) else w
        with contextlib.suppress(Exception):
            services.store.transact([gone])


def drop_orphans(services: ServiceContext, record: Item) -> None:
    """An execution with map runs or a large record ended: delete the chunks and body pieces
    written ahead of steps that never committed (a worker killed in between, see
    :func:`execution_chunks.orphans`)."""
    try:
        drop(services, orphans(services.store, record.pk, record))
        named = record.data.get("body") or []
        drop(services, orphans(services.store, record.pk, record, bodies.BODY_PREFIX, named))
    except Exception:
        log.exception("execution %s: orphan state chunks not dropped", record.pk)
