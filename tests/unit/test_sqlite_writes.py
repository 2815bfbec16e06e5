"""The SQLite store's write path: stored text, conditions, value types (``pilothouse.store.sqlite``)."""

from __future__ import annotations

import dataclasses
import json
import pickle
import threading

import pytest

from pilothouse.errors import AlreadyExists, VersionConflict
from pilothouse.store import sqlite
from pilothouse.store.base import Check, Delete, Item, Put, Store
from pilothouse.store.sqlite import SqliteStore


def _stored_text(store: SqliteStore, pk: str, sk: str) -> str:
    (text,) = store._conn().execute("SELECT data FROM items WHERE pk = ? AND sk = ?", (pk, sk)).fetchone()
    return text


def _dumps(data: object) -> str:
    return json.dumps(data, separators=(",", ":"))


RECORD = {
    "name": "gr\u00e9eter",
    "spec": {"target": {"command": ["a", "b"], "grace_seconds": 5.0}, "labels": {}, "metrics": None},
    "replicas": 0,
    "ratio": 1e16,
    "tiny": 1.5e-07,
    "nan": float("nan"),
    "flags": [True, False, None],
    "summary": "\u2014 \u2192 Registered",
}


def test_a_document_is_stored_as_compact_ascii_escaped_json(tmp_path):
    """Given documents with floats, NaN, non-ASCII text and keys that are not strings, When they are
    written in one transaction, Then each is stored as json.dumps with compact separators spells it."""
    store = SqliteStore(tmp_path / "s.db")
    odd_keys = {1: "one", 2.5: "x", None: "n", False: "f", "s": {3: [1.0]}}
    store.transact([Put(Item("P", "a", RECORD)), Put(Item("P", "b", odd_keys)), Put(Item("P", "c", {}))])
    assert _stored_text(store, "P", "a") == _dumps(RECORD)
    assert _stored_text(store, "P", "b") == _dumps(odd_keys)
    assert _stored_text(store, "P", "c") == "{}"
    store.close()


def test_a_document_holding_another_of_its_transaction_is_stored_byte_for_byte_alike(tmp_path):
    """Given a listing entry whose value *is* the record written before it in the same transaction
    (and one document holding it twice, one holding a copy), When they commit, Then every stored
    text is what encoding each document alone gives (the record's text is reused, never altered)."""
    store = SqliteStore(tmp_path / "s.db")
    listing = {"record": RECORD, "record_version": 1}
    twice = {"a": RECORD, "b": [RECORD], "c": RECORD, "\u00e9": 2}
    copy = {"record": json.loads(_dumps(RECORD).replace("NaN", "0")), "n": 1}
    odd = {"record": RECORD, 7: "key that is not a string"}
    store.transact(
        [
            Put(Item("C#g", "RECORD", RECORD)),
            Put(Item("C", "g", listing)),
            Put(Item("X", "twice", twice)),
            Put(Item("X", "copy", copy)),
            Put(Item("X", "odd", odd)),
        ]
    )
    assert _stored_text(store, "C", "g") == _dumps(listing)
    assert _stored_text(store, "X", "twice") == _dumps(twice)
    assert _stored_text(store, "X", "copy") == _dumps(copy)
    assert _stored_text(store, "X", "odd") == _dumps(odd)
    assert store.get("C", "g").data["record"]["spec"] == RECORD["spec"]
    store.close()


def test_an_encoding_that_failed_leaves_no_trace_for_the_next(tmp_path):
    """Given a document that cannot be encoded (an object inside), When its write fails with
    TypeError, Then nothing is written, and the same containers, fixed, are written at once (the
    thread's encoder does not remember the containers it was inside: no false circular reference)."""
    store = SqliteStore(tmp_path / "s.db")
    inner: dict = {"bad": object()}
    outer = {"inner": inner, "list": [inner]}
    with pytest.raises(TypeError):
        store.transact([Put(Item("P", "ok", {"fine": 1})), Put(Item("P", "x", outer))])
    assert store.get("P", "ok") is None
    inner["bad"] = "fixed"
    store.put(Item("P", "x", outer))
    assert _stored_text(store, "P", "x") == _dumps(outer)
    store.close()


def test_a_circular_document_is_still_refused(tmp_path):
    """Given a document that contains itself, When it is written, Then ValueError (as json.dumps)
    and nothing is stored."""
    store = SqliteStore(tmp_path / "s.db")
    loop: dict = {"a": 1}
    loop["self"] = loop
    with pytest.raises(ValueError, match="Circular reference"):
        store.put(Item("P", "loop", loop))
    assert store.get("P", "loop") is None
    store.close()


def test_threads_encoding_the_same_document_at_once_all_store_it(tmp_path):
    """Given one shared document, When eight threads write it under their own keys at once, Then
    every copy is stored as written (each thread encodes with its own encoder)."""
    store = SqliteStore(tmp_path / "s.db")
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(30):
                store.put(Item("P", f"{n}-{i}", {"record": RECORD, "n": n}))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _stored_text(store, "P", "7-29") == _dumps({"record": RECORD, "n": 7})
    assert len(store.query("P", limit=1000).items) == 240
    store.close()


def test_conditions_and_versions_of_a_transaction(tmp_path):
    """Given stored items (one expired), When transactions with every kind of condition run, Then
    versions count from the live item (an expired one counts as absent) and a failed condition
    writes nothing, with the same messages as Store.check_condition."""
    store = SqliteStore(tmp_path / "s.db")
    now = store.clock.time()
    store.transact([Put(Item("P", "a", {"v": 1})), Put(Item("P", "old", {"v": 1}, expires_at=now - 1))])
    written = store.transact(
        [
            Put(Item("P", "a", {"v": 2}), if_version=1),
            Put(Item("P", "old", {"v": 2}), if_absent=True),
            Put(Item("P", "new", {"v": 1}), if_absent=True),
        ]
    )
    assert [(i.sk, i.version) for i in written] == [("a", 2), ("old", 1), ("new", 1)]
    with pytest.raises(VersionConflict, match="P/a changed: expected version 1, found version 2"):
        store.transact([Put(Item("P", "z", {})), Put(Item("P", "a", {}), if_version=1)])
    with pytest.raises(AlreadyExists, match="P/new already exists"):
        store.transact([Put(Item("P", "z", {})), Put(Item("P", "new", {}), if_absent=True)])
    with pytest.raises(VersionConflict, match="P/gone changed: expected version 1, found absent"):
        store.transact([Put(Item("P", "z", {})), Check("P", "gone", 1)])
    with pytest.raises(VersionConflict, match="P/a changed: expected version 9, found version 2"):
        store.transact([Put(Item("P", "z", {})), Delete("P", "a", if_version=9)])
    assert store.get("P", "z") is None
    store.transact([Check("P", "a", 2), Delete("P", "new", if_version=1), Put(Item("P", "z", {}))])
    assert store.get("P", "new") is None and store.get("P", "z").version == 1
    store.close()


@pytest.mark.parametrize(
    "op",
    [
        Put(Item("P", "s", {})),
        Put(Item("P", "s", {}), if_absent=True),
        Put(Item("P", "s", {}), if_version=3),
        Put(Item("P", "s", {}), if_version=4),
        Delete("P", "s"),
        Delete("P", "s", if_version=3),
        Delete("P", "s", if_version=0),
        Check("P", "s", 3),
        Check("P", "s", 1),
    ],
)
@pytest.mark.parametrize("current", [None, Item("P", "s", {}, 3), Item("P", "s", {}, 3, expires_at=5.0)])
def test_check_version_answers_as_check_condition(op, current):
    """Given any write and any stored item (absent, live, expired), When its condition is checked
    on the item or on the live version alone, Then both pass or both raise the same error."""
    now = 10.0
    live = None if current is None or current.expires_at is not None else current.version

    def outcome(check):
        try:
            check()
        except (AlreadyExists, VersionConflict) as exc:
            return type(exc), str(exc)
        return None

    unconditional = isinstance(op, Put) and not op.if_absent and op.if_version is None
    expected = outcome(lambda: Store.check_condition(op, current, now))
    assert outcome(lambda: sqlite._check(op, live)) == expected
    if not unconditional:
        assert outcome(lambda: Store.check_version(op, live)) == expected


def test_items_and_puts_stay_frozen_values():
    """Given an Item and a Put, Then they compare, print, copy, pickle and replace as frozen
    dataclasses do, and refuse assignment."""
    item = Item("P", "s", {"a": 1}, 2, 5.0)
    assert item == Item(pk="P", sk="s", data={"a": 1}, version=2, expires_at=5.0)
    assert item != Item("P", "s", {"a": 1}, 3, 5.0)
    assert repr(item) == "Item(pk='P', sk='s', data={'a': 1}, version=2, expires_at=5.0)"
    assert Item("P", "s", {}) == Item("P", "s", {}, 0, None)
    assert dataclasses.replace(item, version=3) == Item("P", "s", {"a": 1}, 3, 5.0)
    assert pickle.loads(pickle.dumps(Put(item, if_version=2))) == Put(item, False, 2)
    assert dataclasses.asdict(Put(item)) == {
        "item": {"pk": "P", "sk": "s", "data": {"a": 1}, "version": 2, "expires_at": 5.0},
        "if_absent": False,
        "if_version": None,
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.version = 4  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Put(item).if_absent = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        hash(item)  # its document is a dict, as before
    assert hash(Delete("P", "s")) == hash(Delete("P", "s"))
