"""Execution records and history items larger than one stored item (layout of large payloads).

Step Functions takes inputs, outputs and task results of up to 256 KiB. An execution keeps several
copies of such a value at once: the record's ``input`` and ``output``, the context object
(``$$.Execution.Input``), the current state's input, a task's payload, the last history event;
and one history item holds the events of a step, each carrying a payload as JSON text (escaped
again when stored). So a record or a history item may outgrow what the store holds (DynamoDB:
400 KB). When one does, its large part is stored as *pieces* beside it, in the execution's own
partition:

* a record keeps its head (status, step, leases... everything but :data:`BODY_KEYS`) and names
  the pieces of its body, ``{"body": [id, ...]}``; pieces ``BODY#<id>`` hold ``{"text": ...}``,
  slices of the body's JSON text. They follow the rules of map-run chunks
  (:mod:`pilothouse.repositories.execution_chunks`): immutable, a new id per write (``<step>.<uuid>``),
  written before or with the record that names them, deleted with or after the record that stops
  naming them; a piece a record names that is gone means a later step committed meanwhile
  (:class:`StateMoved`: read the record again). So a reader never sees a torn record.
* a history item keeps ``{"parts": [id, ...]}`` naming ``HISTPART#<id>`` pieces of its events'
  JSON text; history never changes, so neither do they.

Measuring a record costs a serialization, so only a *watched* execution is measured: one whose
history events have carried :data:`WATCH_CHARS` characters in all (``text_seen`` on its record;
every large value of a state's input or output enters through an event), or that runs a
Distributed Map. Others are stored exactly as before.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from pilothouse.ports import Delete, Item, Put, Store, Write
from pilothouse.repositories.execution_chunks import StateMoved, TextCache, has_map_run

#: what leaves a large record (the rest, its head, stays: what listings, leases and sweeps read)
BODY_KEYS = ("state", "input", "output")
BODY_PREFIX = "BODY#"
PART_PREFIX = "HISTPART#"
#: a record or history item larger than this (UTF-8 bytes) is stored in pieces
ITEM_BYTES = 300_000
#: a piece holds at most this (UTF-8 bytes of its JSON document)
PIECE_BYTES = 300_000
#: the text is cut in slices of this many characters (escaped, one is at most 6 times as long)
SLICE_CHARS = 40_000
#: an execution whose events carried this many characters in all is measured at every step
WATCH_CHARS = 100_000

_cache = TextCache(32_000_000)


def event_chars(events: list[dict]) -> int:
    """The characters of text the events' details carry (their payloads), cheaply."""
    n = 0
    for event in events:
        for value in event.values():
            if isinstance(value, dict):
                for detail in value.values():
                    if isinstance(detail, str):
                        n += len(detail)
    return n


def watched(data: dict) -> bool:
    """The record must be measured when stored (see the module's docstring): its events carried
    much text, it is stored in pieces already, or it runs a Distributed Map (whose results reach
    its ResultWriter's request through no event)."""
    if data.get("text_seen", 0) >= WATCH_CHARS or "body" in data:
        return True
    state = data.get("state")
    return isinstance(state, dict) and has_map_run(state)


def _encode(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _bytes(text: str) -> int:
    return len(text) if len(text) * 3 <= ITEM_BYTES else len(text.encode())


def _pieces(text: str) -> list[str]:
    """``text`` cut in pieces whose documents stay under :data:`PIECE_BYTES`."""
    out: list[str] = []
    part: list[str] = []
    size = 0
    for start in range(0, len(text), SLICE_CHARS):
        piece = text[start : start + SLICE_CHARS]
        n = len(_encode(piece).encode())
        if part and size + n > PIECE_BYTES - 100:
            out.append("".join(part))
            part, size = [], 0
        part.append(piece)
        size += n
    if part:
        out.append("".join(part))
    return out


def _write(pk: str, prefix: str, text: str, step: int | None) -> tuple[list[str], list[Write]]:
    ids: list[str] = []
    puts: list[Write] = []
    for piece in _pieces(text):
        piece_id = uuid.uuid4().hex if step is None else f"{step}.{uuid.uuid4().hex}"
        ids.append(piece_id)
        puts.append(Put(Item(pk, f"{prefix}{piece_id}", {"text": piece}), if_absent=True))
        _cache.put((pk, piece_id), piece)
    return ids, puts


def split(pk: str, data: dict, step: int | None) -> tuple[dict, list[Write], list[Write]]:
    """The record ``data`` as stored (whole, or its head naming the pieces of its body), the piece
    puts and the deletes of the pieces the record named until now (``data["body"]``, kept by
    :func:`join`). The caller writes the puts before or with the record, the deletes with or after."""
    old = data.get("body") or []
    whole = {k: v for k, v in data.items() if k != "body"}
    gone: list[Write] = [Delete(pk, f"{BODY_PREFIX}{piece_id}") for piece_id in old]
    if not watched(data) or _bytes(_encode(whole)) <= ITEM_BYTES:
        return whole, [], gone
    body = {k: whole.pop(k) for k in BODY_KEYS if k in whole}
    ids, puts = _write(pk, BODY_PREFIX, _encode(body), step)
    return {**whole, "body": ids}, puts, gone


def _text(store: Store, pk: str, prefix: str, piece_id: str) -> str:
    text = _cache.get((pk, piece_id))
    if text is None:
        item = store.get(pk, f"{prefix}{piece_id}")
        if item is None:
            raise StateMoved(piece_id)
        text = item.data["text"]
        _cache.put((pk, piece_id), text)
    return text


def join(store: Store, item: Item) -> Item:
    """The record ``item`` whole: its body read back in (its ``body`` key kept, naming the pieces
    it came from). Raises :class:`StateMoved` if a later step replaced them meanwhile."""
    ids = item.data.get("body")
    if not ids or "state" in item.data:  # whole already (as the step that wrote it keeps it)
        return item
    body = json.loads("".join(_text(store, item.pk, BODY_PREFIX, i) for i in ids))
    return Item(item.pk, item.sk, {**item.data, **body}, item.version, item.expires_at)


def read(store: Store, pk: str, sk: str, attempts: int = 20) -> Item | None:
    """The record at ``pk``/``sk`` whole (:func:`join`), read again while a step moves it."""
    for _ in range(attempts):
        item = store.get(pk, sk)
        if item is None:
            return None
        try:
            return join(store, item)
        except StateMoved:
            continue
    from pilothouse.errors import Conflict

    raise Conflict("the execution is too busy to read; retry")


def history_writes(pk: str, sk: str, events: list[dict], watch: bool) -> list[Write]:
    """The writes of a history item holding ``events`` (its pieces first, when it is large)."""
    if not watch:
        return [Put(Item(pk, sk, {"events": events}), if_absent=True)]
    text = _encode(events)
    if _bytes(_encode({"events": events})) <= ITEM_BYTES:
        return [Put(Item(pk, sk, {"events": events}), if_absent=True)]
    ids, puts = _write(pk, PART_PREFIX, text, None)
    return [*puts, Put(Item(pk, sk, {"parts": ids}), if_absent=True)]


def events_of(store: Store, item: Item) -> list[dict]:
    """The events a history item holds (read back from its pieces if it has them)."""
    if "parts" not in item.data:
        return item.data["events"]
    return json.loads("".join(_text(store, item.pk, PART_PREFIX, i) for i in item.data["parts"]))


def piece_size(write: Write) -> int:
    """What a piece put weighs in a transaction (at most :data:`PIECE_BYTES`, counted in full: its
    bytes may be several times its characters); 0 for any other write."""
    if isinstance(write, Put) and write.item.sk.startswith((BODY_PREFIX, PART_PREFIX)):
        return PIECE_BYTES
    return 0
