"""The bulky parts of an execution's engine state, stored beside its record (layout of a large map run).

A Distributed Map keeps its items (``inputs``, and ``read`` while an ItemReader reads) and its
children's ``results`` in its run (``run["dmap"]``). Kept inline, a large map run would not fit
in one stored item (DynamoDB refuses items over 400 KB). So once such a list is larger than
:data:`SPILL_BYTES`, the record keeps, in its place, a reference ``{"$chunks": [[id, count],
...]}`` and the elements live in *chunk* items ``STATE#<id>`` of the execution's own partition
(``{"items": [...]}``, each at most about :data:`CHUNK_BYTES`).

A chunk is immutable: a slice that changed is written as a new chunk (a new id) and the chunk it
replaces is deleted with (or after) the record that stops naming it, under the record's version
condition. A new chunk is written in the step's transaction while it fits the store's transaction
(25 items, and a bounded size: DynamoDB also refuses a transaction over 4 MB); the rest are written
*ahead* of the step, each on its own, before the record that names them (a step that must write
many, such as the start of a map run over a large item list, never exceeds the transaction). So a
reader never sees a torn state: the record names exactly the chunks of its version, all written
before it or with it, and a chunk it names that is gone means a later step committed meanwhile
(:class:`StateMoved`: read the record again). Because chunks never change, a worker keeps the ones
it read or wrote in a bounded cache.

A chunk written ahead by a step that then lost its race (or whose worker was killed before it
committed) is named by no record: an *orphan*. Its id carries the step it was written for
(``<step>.<uuid>``), so :func:`orphans` tells it apart from a chunk a step is writing right now: a
chunk for step *n* can only be named by step *n*'s commit, so once the record's step is *n* or
more, an unnamed one never will be. The executor drops its own after a lost race and drops every
orphan when an execution with map runs ends.

Old records (every list inline) read as they are: a record holding no reference needs no chunk,
so no migration is needed. A list stays inline until it grows past :data:`SPILL_BYTES`, so small
executions are stored exactly as before.

The state machine *definition* an execution runs never changes while it runs (the engine sets it
at the start, and nothing replaces it), yet the record carried it through every step and every
task lease: most of a small execution's record (the shipped deployment workflow's ~10 KB of a
~15 KB record), encoded and decoded on each write and read. An execution started now keeps it in
one item of its own partition, ``DEF#<hash of its text>`` (``{"definition": ...}``, written in the
start's transaction; never replaced, never deleted), and its state names it
(``{"$definition": id}``). Content-addressed, an id means the same definition wherever it runs, so
a worker keeps the definitions it read decoded, by id, and reads each one once. A record
of an earlier release (its definition inline) keeps it inline.
"""

from __future__ import annotations

import copy
import hashlib
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


def _new_id(step: int | None) -> str:
    """A new chunk's id: ``<step>.<uuid>`` for the step that writes it (a bare uuid without one)."""
    return uuid.uuid4().hex if step is None else f"{step}.{uuid.uuid4().hex}"


def _step_of(chunk_id: str) -> int | None:
    """The step a chunk was written for (None: an id without a step, as older chunks have)."""
    head, dot, _ = chunk_id.partition(".")
    return int(head) if dot and head.isdigit() else None


class TextCache:
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


_cache = TextCache(CACHE_CHARS)


#: how a stored state names its definition item, and where that item is
DEF_REF = "$definition"
DEF_PREFIX = "DEF#"
#: definitions kept decoded in this process (by id: content-addressed, never stale)
DEFINITIONS_KEPT = 256
_definitions: OrderedDict[str, dict] = OrderedDict()
_definitions_lock = threading.Lock()


def _is_definition_ref(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get(DEF_REF), str) and len(value) == 1


def _keep_definition(definition_id: str, definition: dict) -> None:
    with _definitions_lock:
        _definitions[definition_id] = definition
        _definitions.move_to_end(definition_id)
        while len(_definitions) > DEFINITIONS_KEPT:
            _definitions.popitem(last=False)


def _definition(store: Store, pk: str, definition_id: str) -> dict:
    """The definition ``definition_id`` names: kept in this process, or read from its item."""
    with _definitions_lock:
        known = _definitions.get(definition_id)
    if known is not None:
        return known
    item = store.get(pk, DEF_PREFIX + definition_id)
    if item is None:
        raise StateMoved(definition_id)
    _keep_definition(definition_id, item.data["definition"])
    return item.data["definition"]


def pack_definition(pk: str, state: dict) -> tuple[dict, list[Write]]:
    """At an execution's start: its state as the record stores it (the definition named by
    reference) and the put of the definition's item, for the start's transaction (see the module)."""
    definition = state.get("definition")
    if not isinstance(definition, dict) or _is_definition_ref(definition):
        return state, []
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    definition_id = hashlib.sha256(text.encode()).hexdigest()[:40]
    _keep_definition(definition_id, json.loads(text))  # a copy of its own: the caller's may change
    put = Put(Item(pk, DEF_PREFIX + definition_id, {"definition": definition}))
    return {**state, "definition": {DEF_REF: definition_id}}, [put]


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


def has_map_run(state: dict) -> bool:
    """The state has a Distributed Map's run under way."""
    return next(_map_runs(state), None) is not None


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
    if _is_definition_ref(state.get("definition")):
        state = {**state, "definition": _definition(store, item.pk, state["definition"][DEF_REF])}
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


def _pack_list(
    pk: str, values: list, old: list | None, puts: list[Write], gone: list[str], step: int | None
) -> Any:
    """``values`` as stored: inline (small, never chunked before) or a reference to its chunks,
    adding the chunks written to ``puts`` and those no longer named to ``gone``."""
    if old is None and len(json.dumps(values)) <= SPILL_BYTES:
        return values
    refs: list[list] = []
    offset = 0

    def write(start: int, part_values: list) -> None:
        for part, text in _slices(part_values, start):
            chunk_id = _new_id(step)
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


def pack_state(
    pk: str, state: dict, before: dict | None, step: int | None = None
) -> tuple[dict, list[Write], list[Write]]:
    """The state as the record stores it, the chunk puts and the chunk deletes of a step that
    replaces ``before`` (the state as the record stored it until now, or None for a new record);
    ``step``: the step number the record will have (new chunks' ids carry it, see :func:`orphans`).

    The caller writes each put before or with the record's transaction, and each delete with or
    after it: a chunk it does not name any more is deleted with the record that stops naming it.
    A definition ``before`` names by reference stays named so (the engine never changes it)."""
    named = (before or {}).get("definition")
    if _is_definition_ref(named):
        state = {**state, "definition": named}
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
                d[key] = _pack_list(pk, d[key], old_refs.pop((d.get("id", ""), key), None), puts, gone, step)
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


def chunk_size(write: Write) -> int:
    """The size (JSON characters) of a chunk put (0 for any other write)."""
    if not isinstance(write, Put) or not write.item.sk.startswith(CHUNK_PREFIX):
        return 0
    text = _cache.get((write.item.pk, write.item.sk.removeprefix(CHUNK_PREFIX)))
    return len(text) if text is not None else len(json.dumps(write.item.data["items"]))


def orphans(
    store: Store, pk: str, record: Item, prefix: str = CHUNK_PREFIX, named: list[str] | None = None
) -> list[Delete]:
    """The deletes of the chunks of partition ``pk`` that no record will ever name: written ahead
    for a step at or before ``record``'s (read before this call) that ``record`` does not name.
    A chunk for a later step is left alone (its step may be committing now), as is one without a
    step in its id. ``prefix`` and ``named``: other pieces kept by the same rules (a record's body,
    :mod:`pilothouse.repositories.execution_bodies`) and those the record names."""
    keep = set(chunk_ids(record.data["state"]) if named is None else named)
    step = record.data["step"]
    out: list[Delete] = []
    cursor = None
    while True:
        page = store.query(pk, prefix, limit=1000, cursor=cursor)
        for item in page.items:
            chunk_id = item.sk.removeprefix(prefix)
            written_for = _step_of(chunk_id)
            if chunk_id not in keep and written_for is not None and written_for <= step:
                out.append(Delete(pk, item.sk))
        cursor = page.cursor
        if cursor is None:
            return out
