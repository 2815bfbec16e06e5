"""The bulky parts of an execution's engine state, stored beside its record (layout of a large map run).

A Distributed Map keeps its items (``inputs``, and ``read`` while an ItemReader reads) and its
children's ``results`` in its run (``run["dmap"]``). Kept inline, a large map run would not fit
in one stored item (DynamoDB refuses items over 400 KB). So once such a list is larger than
:data:`SPILL_BYTES`, the record keeps, in its place, a reference ``{"$chunks": [[id, count],
...]}`` and the elements live in *chunk* items ``STATE#<id>`` of the execution's own partition
(``{"items": [...]}``, each at most about :data:`CHUNK_BYTES`).

A chunk is immutable: a slice that changed is written as a new chunk (a new id) and the chunk it
replaces is deleted, in the step's transaction, under the record's version condition. So a reader
never sees a torn state: the record names exactly the chunks of its version, and a chunk it names
that is gone means a later step committed meanwhile (:class:`StateMoved`: read the record again).
Because chunks never change, a worker keeps the ones it read or wrote in a bounded cache.

Old records (every list inline) read as they are: a record holding no reference needs no chunk,
so no migration is needed. A list stays inline until it grows past :data:`SPILL_BYTES`, so small
executions are stored exactly as before.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from pilothouse.ports import Delete, Item, Put, Store, Write

#: the lists of a map run that may be chunked
BULKY = ("inputs", "results", "read")
#: a list larger than this (JSON characters) leaves the record
SPILL_BYTES = 48_000
#: the size a chunk aims at (a single element larger than that gets a chunk of its own)
CHUNK_BYTES = 96_000
CHUNK_PREFIX = "STATE#"
REF = "$chunks"
#: chunk text kept in this process (characters)
CACHE_CHARS = 64_000_000


class StateMoved(Exception):
    """A chunk the record names is gone: a later step replaced it. Read the record again."""


def chunk_sk(chunk_id: str) -> str:
    return f"{CHUNK_PREFIX}{chunk_id}"


class _Cache:
    """Chunk texts by (partition, id): chunks never change, so a cached one is never stale."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.texts: OrderedDict[tuple[str, str], str] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> str | None:
        with self.lock:
            text = self.texts.get(key)
            if text is not None:
                self.texts.move_to_end(key)
            return text

    def put(self, key: tuple[str, str], text: str) -> None:
        with self.lock:
            if key in self.texts:
                return
            self.texts[key] = text
            self.size += len(text)
            while self.size > self.limit and self.texts:
                _, old = self.texts.popitem(last=False)
                self.size -= len(old)


_cache = _Cache(CACHE_CHARS)


def _map_runs(state: dict) -> Iterator[dict]:
    """Every ``dmap`` of the state's runs."""
    root = state.get("root")
    stack = [root] if isinstance(root, dict) else []
    while stack:
        run = stack.pop()
        d = run.get("dmap")
        if isinstance(d, dict):
            yield d
        stack.extend(run.get("children") or [])


def _is_ref(value: Any) -> bool:
    return isinstance(value, dict) and REF in value


def is_chunked(state: dict) -> bool:
    """The state (as stored in a record) names chunks."""
    return any(_is_ref(d.get(k)) for d in _map_runs(state) for k in BULKY)


def _text(store: Store, pk: str, chunk_id: str) -> str:
    key = (pk, chunk_id)
    text = _cache.get(key)
    if text is None:
        item = store.get(pk, chunk_sk(chunk_id))
        if item is None:
            raise StateMoved(chunk_id)
        text = json.dumps(item.data["items"])
        _cache.put(key, text)
    return text


def load_state(store: Store, item: Item) -> dict:
    """The whole engine state of an execution record (its chunks read back in); the record's own
    data is left as it is. Raises :class:`StateMoved` if a later step replaced a chunk meanwhile."""
    state = item.data["state"]
    if not is_chunked(state):
        return state
    state = copy.deepcopy(state)
    for d in _map_runs(state):
        for key in BULKY:
            ref = d.get(key)
            if isinstance(ref, dict) and REF in ref:
                out: list = []
                for chunk_id, _count in ref[REF]:
                    out.extend(json.loads(_text(store, item.pk, chunk_id)))
                d[key] = out
    return state


def _slices(values: list, start: int) -> Iterator[tuple[list, str]]:
    """Cut ``values[start:]`` into chunks of about :data:`CHUNK_BYTES` (slice and its text)."""
    part: list = []
    size = 0
    for value in values[start:]:
        n = len(json.dumps(value)) + 1
        if part and size + n > CHUNK_BYTES:
            yield part, json.dumps(part)
            part, size = [], 0
        part.append(value)
        size += n
    if part:
        yield part, json.dumps(part)


def _pack_list(pk: str, values: list, old: list | None, puts: list[Write], gone: list[str]) -> Any:
    """``values`` as stored: inline (small, never chunked before) or a reference to its chunks,
    adding the chunks written to ``puts`` and those no longer named to ``gone``."""
    if old is None and len(json.dumps(values)) <= SPILL_BYTES:
        return values
    refs: list[list] = []
    offset = 0

    def write(start: int, part_values: list) -> None:
        for part, text in _slices(part_values, start):
            chunk_id = uuid.uuid4().hex
            puts.append(Put(Item(pk, chunk_sk(chunk_id), {"items": part}), if_absent=True))
            _cache.put((pk, chunk_id), text)
            refs.append([chunk_id, len(part)])

    for chunk_id, count in old or []:
        if offset >= len(values):
            gone.append(chunk_id)
            continue
        part = values[offset : offset + count]
        cached = _cache.get((pk, chunk_id))
        if len(part) == count and cached is not None and cached == json.dumps(part):
            refs.append([chunk_id, count])
        else:
            gone.append(chunk_id)
            write(0, part)
        offset += len(part)
    if offset < len(values):
        write(offset, values)
    return {REF: refs}


def pack_state(pk: str, state: dict, before: dict | None) -> tuple[dict, list[Write], list[Write]]:
    """The state as the record stores it, the chunk puts and the chunk deletes of a step that
    replaces ``before`` (the state as the record stored it until now, or None for a new record).

    The caller writes puts and deletes in the record's transaction: a chunk it does not name any
    more is deleted with the record that stops naming it."""
    old_refs: dict[tuple[str, str], list] = {}
    for d in _map_runs(before or {}):
        for key in BULKY:
            if _is_ref(d.get(key)):
                old_refs[(d.get("id", ""), key)] = d[key][REF]
    if not old_refs and next(_map_runs(state), None) is None:
        return state, [], []
    puts: list[Write] = []
    gone: list[str] = []
    head = dict(state)
    head["root"] = _copy_runs(state["root"])
    for d in _map_runs(head):
        for key in BULKY:
            if isinstance(d.get(key), list):
                d[key] = _pack_list(pk, d[key], old_refs.pop((d.get("id", ""), key), None), puts, gone)
    for refs in old_refs.values():  # a map run that ended (or left its stage): its chunks go
        gone.extend(chunk_id for chunk_id, _ in refs)
    return head, puts, [Delete(pk, chunk_sk(c)) for c in gone]


def _copy_runs(run: dict) -> dict:
    """A copy of the run tree deep enough to replace lists in each ``dmap`` (elements shared)."""
    out = dict(run)
    if isinstance(run.get("dmap"), dict):
        out["dmap"] = dict(run["dmap"])
    if run.get("children"):
        out["children"] = [_copy_runs(c) for c in run["children"]]
    return out


def chunk_ids(state: dict) -> list[str]:
    """The chunks a stored state names."""
    return [
        chunk_id
        for d in _map_runs(state)
        for key in BULKY
        if _is_ref(d.get(key))
        for chunk_id, _ in d[key][REF]
    ]
