"""The backup's fast path: documents stay JSON text from the store to the chunk and back
(``Store.scan_encoded``/``load_encoded``, ``backups.encoded_line``, ``backup_reader.encoded_items``).
Whatever the path, the lines are byte for byte what ``item_line`` writes (the manifest's digests and
the drills depend on it) and a restore writes the same documents."""

from __future__ import annotations

import json

import pytest

from pilothouse.domain import backups as dom
from pilothouse.domain.backups import BackupRefused, ChunkEntry
from pilothouse.ports import EncodedItem, Item
from pilothouse.services.backup_reader import encoded_items
from pilothouse.services.backups import encoded_line, item_line
from pilothouse.store.memory import MemoryStore
from pilothouse.store.sqlite import SqliteStore

#: documents and keys that a naive cut or re-encoding would get wrong
AWKWARD = [
    Item("NOTE", "plain", {"a": 1}, 1),
    Item("NOTE", 'quote"d', {"text": 'she said "hi"', "d": {"d": 1}}, 2, 1_900_000_000.0),
    Item('WEIRD,"d":{', 'sk,"d":{"x":1}', {"nested": {',"d":{': ',"d":{'}}, 3),
    Item("NOTE", "unicode", {"name": "café 日本 \u2028 ls \u0085", "emoji": "🚀"}, 1, 1_900_000_000.5),
    Item("NOTE", "controls", {"c": "tab\tnl\nnul\u0000 bell\u0007 back\\slash \\u0041"}, 4),
    Item("NOTE", "numbers", {"f": 0.1, "big": 10**30, "neg": -2.5e-8, "t": True, "n": None}, 7, 2e9 + 0.25),
    Item("N\u00e9", "\u00e9", {}, 1),
]


def _chunk_of(lines: list[bytes]) -> tuple[ChunkEntry, bytes]:
    raw = b"\n".join(lines) + b"\n"
    entry = ChunkEntry(index=0, key="k", items=len(lines), bytes=0, sha256="0" * 64, raw_bytes=len(raw))
    return entry, raw


@pytest.mark.parametrize("item", AWKWARD, ids=lambda i: i.sk)
def test_an_encoded_line_is_the_item_line_byte_for_byte(item):
    text = json.dumps(item.data, separators=(",", ":"), ensure_ascii=False)
    encoded = EncodedItem(item.pk, item.sk, item.version, item.expires_at, text)
    assert encoded_line(encoded) == item_line(item.pk, item.sk, item.version, item.expires_at, item.data)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_scan_encoded_gives_the_item_lines_of_scan_in_every_store(tmp_path, kind):
    """SQLite hands its stored text over undecoded unless it holds a \\u escape; either way the
    lines are those of the decoded scan."""
    store = MemoryStore() if kind == "memory" else SqliteStore(tmp_path / "s.db")
    for item in AWKWARD:
        store.put(Item(item.pk, item.sk, item.data, expires_at=item.expires_at))
    decoded = sorted(item_line(i.pk, i.sk, i.version, i.expires_at, i.data) for i in store.scan())
    assert sorted(encoded_line(i) for i in store.scan_encoded()) == decoded


def test_encoded_items_read_back_what_was_written_and_load_encoded_stores_it(tmp_path):
    """Given lines of awkward items (escaped quotes and the document's key inside keys and values,
    non-ASCII, U+2028, control characters), When a chunk of them is read on the fast path and loaded
    into SQLite, Then every key, version, expiry and document comes back equal, and a scan gives
    the same lines again."""
    lines = [item_line(i.pk, i.sk, i.version, i.expires_at, i.data) for i in AWKWARD]
    entry, raw = _chunk_of(lines)
    items = encoded_items("b", entry, raw)
    assert [(i.pk, i.sk, i.version, i.expires_at, json.loads(i.data)) for i in items] == [
        (i.pk, i.sk, i.version, i.expires_at, i.data) for i in AWKWARD
    ]
    store = SqliteStore(tmp_path / "r.db")
    store.load_encoded(items)
    assert sorted(encoded_line(i) for i in store.scan_encoded()) == sorted(lines)
    for original in AWKWARD:
        got = store.get(original.pk, original.sk)
        assert got is not None and got.data == original.data and got.version == original.version


@pytest.mark.parametrize(
    "line",
    [
        b'{"pk":"BACKUPRUN","sk":"x","v":1,"d":{}}',  # bookkeeping is never restored
        b'{"pk":"A","sk":"x","v":0,"d":{}}',  # versions start at 1
        b'{"pk":"A","sk":"x","v":true,"d":{}}',
        b'{"pk":"A","sk":"x","v":1.5,"d":{}}',
        b'{"pk":1,"sk":"x","v":1,"d":{}}',
        b'{"pk":"A","sk":"x","v":1,"e":"soon","d":{}}',
        b'{"pk":"A","sk":"x","v":1,"extra":1,"d":{}}',
        b'{"pk":"A","sk":"x","v":1,"d":[1]}',  # a document is an object
        b'{"pk":"A","sk":"x","v":1}',
        b"not json at all",
    ],
)
def test_a_line_not_of_an_item_is_refused_on_the_fast_path(line):
    entry, raw = _chunk_of([item_line("A", "ok", 1, None, {}), line])
    with pytest.raises(BackupRefused):
        encoded_items("b", entry, raw)


def test_lines_of_another_shape_take_the_full_parse_and_read_right():
    """A line whose document is not last (or with spaces) is not cut: its chunk is parsed whole."""
    lines = [item_line("A", "ok", 1, None, {}), b'{"pk":"B","d":{"k":"v"},"sk":"x","v":2} ']
    entry, raw = _chunk_of(lines)
    got = encoded_items("b", entry, raw)
    assert [(i.pk, i.sk, i.version, json.loads(i.data)) for i in got] == [
        ("A", "ok", 1, {}),
        ("B", "x", 2, {"k": "v"}),
    ]


def test_a_chunk_holding_more_or_fewer_lines_than_its_entry_is_refused():
    entry, raw = _chunk_of([item_line("A", "1", 1, None, {}), item_line("A", "2", 1, None, {})])
    with pytest.raises(BackupRefused, match="holds 3 items, not 2"):
        encoded_items("b", entry, raw + item_line("A", "3", 1, None, {}) + b"\n")
    assert encoded_items("b", entry.model_copy(update={"items": 0}), b"\n") == []


def test_kind_digests_are_the_same_whatever_the_order():
    lines = [(i.pk, item_line(i.pk, i.sk, i.version, i.expires_at, i.data)) for i in AWKWARD]
    a, b = dom.KindDigests(), dom.KindDigests()
    for pk, line in lines:
        a.add(pk, line)
    for pk, line in reversed(lines):
        b.add(pk, line)
    assert a.digests() == b.digests() and a.counts == b.counts and a.total == len(AWKWARD)
    assert all(len(d) == 64 for d in a.digests().values())
