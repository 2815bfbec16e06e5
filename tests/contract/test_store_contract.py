"""One contract for every storage adapter (DESIGN §7). Later adapters join the `store` fixture.

DynamoDB runs against a moto server (one per session, a fresh table per test).
"""

from __future__ import annotations

import multiprocessing
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from pilothouse.clock import ManualClock
from pilothouse.errors import AlreadyExists, BadRequest, VersionConflict
from pilothouse.store import Check, Delete, Item, Put
from pilothouse.store.memory import MemoryStore
from pilothouse.store.sqlite import SqliteStore


@pytest.fixture(scope="session")
def dynamodb_endpoint():
    """One moto server (a subprocess on 127.0.0.1) for the session's DynamoDB stores.

    Each test gets its own table instead of a reset, so nothing is shared between tests. moto
    executes requests on several threads without DynamoDB's per-item atomicity (see
    ``test_racing_conditional_writes_exactly_one_wins``).
    """
    from tests.support.moto_server import MotoServer

    with MotoServer() as server:
        yield server.url


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def store(request, tmp_path, monkeypatch):
    clock = ManualClock()
    if request.param == "memory":
        s = MemoryStore(clock)
    elif request.param == "sqlite":
        s = SqliteStore(tmp_path / "state.db", clock)
    else:
        from pilothouse.store.dynamodb import DynamoStore

        endpoint = request.getfixturevalue("dynamodb_endpoint")
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        table = f"contract-{uuid.uuid4().hex[:12]}"
        s = DynamoStore(table, region="us-east-1", host=endpoint, clock=clock, create_table=True)
    yield s
    s.close()


def test_put_if_absent_then_get(store):
    """Given an empty store, when an item is put if absent, then it reads back at version 1."""
    written = store.put(Item("P", "a", {"x": 1}), if_absent=True)
    assert written.version == 1
    got = store.get("P", "a")
    assert got == Item("P", "a", {"x": 1}, 1, None)
    with pytest.raises(AlreadyExists):
        store.put(Item("P", "a", {"x": 2}), if_absent=True)
    assert store.get("P", "a").data == {"x": 1}


def test_put_if_version_increments_and_rejects_stale(store):
    """Given version 1, when two writers both expect version 1, then only the first succeeds."""
    store.put(Item("P", "a", {"n": 0}), if_absent=True)
    assert store.put(Item("P", "a", {"n": 1}), if_version=1).version == 2
    with pytest.raises(VersionConflict):
        store.put(Item("P", "a", {"n": 99}), if_version=1)
    assert store.get("P", "a").data == {"n": 1}
    with pytest.raises(VersionConflict):
        store.put(Item("P", "missing", {}), if_version=1)


def test_delete_if_version(store):
    """Given an item, when deleted with a stale version, then it stays; with the right one, it goes."""
    store.put(Item("P", "a", {}), if_absent=True)
    with pytest.raises(VersionConflict):
        store.delete("P", "a", if_version=7)
    store.delete("P", "a", if_version=1)
    assert store.get("P", "a") is None
    store.delete("P", "a")  # absent without condition is fine


def test_query_prefix_order_and_cursor(store):
    """Given 25 items in two prefixes, when paging by 10, then all of one prefix come in order."""
    for i in range(20):
        store.put(Item("P", f"a#{i:03d}", {"i": i}))
    for i in range(5):
        store.put(Item("P", f"b#{i:03d}", {"i": i}))
    store.put(Item("Q", "a#000", {"other": True}))
    seen, cursor, pages = [], None, 0
    while True:
        page = store.query("P", "a#", limit=10, cursor=cursor)
        pages += 1
        seen.extend(i.data["i"] for i in page.items)
        if page.cursor is None:
            break
        cursor = page.cursor
    assert seen == list(range(20))
    assert pages == 2
    rev = store.query("P", "a#", limit=3, reverse=True)
    assert [i.data["i"] for i in rev.items] == [19, 18, 17]
    rev2 = store.query("P", "a#", limit=3, reverse=True, cursor=rev.cursor)
    assert [i.data["i"] for i in rev2.items] == [16, 15, 14]


def test_cursor_from_other_partition_is_rejected(store):
    """Given a cursor of partition P, when used on Q, then it is a 400 naming the cursor."""
    for i in range(3):
        store.put(Item("P", f"{i}", {}))
    page = store.query("P", limit=1)
    with pytest.raises(BadRequest):
        store.query("Q", cursor=page.cursor)
    with pytest.raises(BadRequest):
        store.query("P", cursor="not-a-cursor!!")


def test_transaction_all_or_nothing(store):
    """Given a transaction whose last condition fails, then none of its writes land."""
    store.put(Item("P", "a", {"v": 1}), if_absent=True)
    store.put(Item("P", "c", {}), if_absent=True)
    with pytest.raises(VersionConflict):
        store.transact(
            [
                Put(Item("P", "a", {"v": 2}), if_version=1),
                Put(Item("P", "b", {"new": True}), if_absent=True),
                Check("P", "c", version=5),
            ]
        )
    assert store.get("P", "a").data == {"v": 1}
    assert store.get("P", "b") is None
    written = store.transact(
        [
            Put(Item("P", "a", {"v": 2}), if_version=1),
            Put(Item("P", "b", {}), if_absent=True),
            Delete("P", "c"),
        ]
    )
    assert [w.version for w in written] == [2, 1]
    assert store.get("P", "c") is None


def test_a_transaction_in_one_partition_commits_on_every_store_and_scope(store):
    """What every store promises whatever its scope: a transaction whose operations all have one
    partition key commits all or nothing. Narrowed to ``partition`` (as Azure Tables), the store
    still does."""
    store.transaction_scope = "partition"
    store.put(Item("P", "a", {"v": 1}), if_absent=True)
    written = store.transact([Put(Item("P", "a", {"v": 2}), if_version=1), Put(Item("P", "b", {}))])
    assert [w.version for w in written] == [2, 1]
    with pytest.raises(VersionConflict):
        store.transact([Put(Item("P", "a", {"v": 3}), if_version=1), Put(Item("P", "c", {}))])
    assert store.get("P", "c") is None and store.get("P", "a").data == {"v": 2}


def test_a_partition_scoped_store_refuses_a_transaction_across_partitions(store):
    """Given a store narrowed to ``partition`` scope, when a transaction spans two partitions,
    then it raises TransactionScopeError and writes nothing: no adapter fakes atomicity it was
    told not to give. At the adapter's own scope (``store``: SQLite, DynamoDB, memory) the same
    transaction commits all or nothing."""
    from pilothouse.errors import TransactionScopeError

    assert store.transaction_scope == "store"
    store.transaction_scope = "partition"
    with pytest.raises(TransactionScopeError):
        store.transact([Put(Item("P", "a", {})), Put(Item("Q", "a", {}))])
    assert store.get("P", "a") is None and store.get("Q", "a") is None
    store.transaction_scope = "store"
    store.put(Item("Q", "b", {}), if_absent=True)
    with pytest.raises(AlreadyExists):
        store.transact([Put(Item("P", "a", {})), Put(Item("Q", "b", {}), if_absent=True)])
    assert store.get("P", "a") is None
    store.transact([Put(Item("P", "a", {})), Delete("Q", "b")])
    assert store.get("P", "a") is not None and store.get("Q", "b") is None


def test_a_store_cannot_be_widened_beyond_what_it_can_commit():
    """A store whose adapter commits only inside one partition cannot be told ``store`` scope, and
    an unknown scope is refused (settings: PILOTHOUSE_STORE_TRANSACTION_SCOPE)."""
    from pilothouse.store.memory import MemoryStore

    class PartitionOnly(MemoryStore):
        transaction_scope = "partition"

    with pytest.raises(ValueError):
        PartitionOnly(transaction_scope="store")
    with pytest.raises(ValueError):
        MemoryStore(transaction_scope="row")
    assert MemoryStore(transaction_scope="partition").transaction_scope == "partition"


def test_transaction_rejects_duplicate_keys(store):
    """A transaction touching one item twice is a bad request, as in DynamoDB."""
    with pytest.raises(BadRequest):
        store.transact([Put(Item("P", "a", {})), Delete("P", "a")])


def test_expired_items_disappear(store):
    """Given an item expiring in 10 s, when the clock passes it, then it is absent and can be recreated."""
    store.put(Item("P", "a", {}, expires_at=store.clock.time() + 10), if_absent=True)
    assert store.get("P", "a") is not None
    store.clock.advance(11)
    assert store.get("P", "a") is None
    assert store.query("P").items == []
    assert store.put(Item("P", "a", {"again": 1}), if_absent=True).version == 1
    store.put(Item("P", "z", {}, expires_at=store.clock.time() - 1))
    assert store.purge_expired() in (0, 1)  # adapters with native TTL may leave it to the backend


def test_racing_conditional_writes_exactly_one_wins(store):
    """Given 32 threads that all expect version 1, then exactly one write wins and none is lost.

    On DynamoDB-on-moto each attempt is one conditional PutItem. moto (unlike DynamoDB) does not
    make conditional writes atomic against concurrent requests; a PutItem's check-and-write is
    short enough to pass here, but racing TransactWriteItems would not (a failed one restores a
    snapshot of the whole table), so this race stays with single puts.
    """
    store.put(Item("P", "a", {"winner": None}), if_absent=True)

    def attempt(n: int) -> bool:
        try:
            store.put(Item("P", "a", {"winner": n}), if_version=1)
            return True
        except VersionConflict:
            return False

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(32)))
    assert results.count(True) == 1
    item = store.get("P", "a")
    assert item.version == 2 and item.data["winner"] == results.index(True)


def _increment(path: str, n: int) -> None:
    s = SqliteStore(path)
    done = 0
    while done < n:
        item = s.get("C", "counter")
        try:
            s.put(Item("C", "counter", {"n": item.data["n"] + 1}), if_version=item.version)
            done += 1
        except VersionConflict:
            continue
    s.close()


def test_sqlite_processes_lose_no_update(tmp_path):
    """Given two processes incrementing one counter with conditional writes, then no update is lost."""
    path = tmp_path / "state.db"
    s = SqliteStore(path)
    s.put(Item("C", "counter", {"n": 0}), if_absent=True)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_increment, args=(str(path), 100)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert s.get("C", "counter").data["n"] == 200


def test_scan_streams_every_live_item_of_every_partition(store):
    """Given items in three partitions (one expired, one updated twice), When the store is scanned
    in small pages, Then every live item comes back once with its data, version and expiry."""
    store.put(Item("A", "1", {"a": [1, {"b": None}]}))
    store.put(Item("A", "1", {"a": 2}))
    for i in range(7):
        store.put(Item("B#x", f"{i:02d}", {"i": i}, expires_at=store.clock.time() + 3600))
    store.put(Item("C", "gone", {}, expires_at=store.clock.time() + 1))
    store.clock.advance(5)
    got = sorted(store.scan(page_size=3), key=lambda i: (i.pk, i.sk))
    assert [(i.pk, i.sk) for i in got] == [("A", "1")] + [("B#x", f"{i:02d}") for i in range(7)]
    assert got[0] == Item("A", "1", {"a": 2}, 2, None)
    assert got[1].expires_at == store.clock.time() - 5 + 3600


def test_load_writes_items_as_given_and_is_repeatable(store):
    """Given an item at version 1, When items are loaded with versions 5 and 3 (one replacing it),
    Then they read back exactly, loading again changes nothing, and the next conditional write
    continues from the loaded version."""
    store.put(Item("A", "1", {"old": True}))
    items = [Item("A", "1", {"new": True}, 5, None), Item("E#c", "0001", {"n": 1}, 3, 4_000_000_000.0)]
    store.load(items)
    store.load(items)
    assert store.get("A", "1") == items[0]
    assert store.get("E#c", "0001") == items[1]
    assert store.put(Item("A", "1", {"newer": True}), if_version=5).version == 6
    with pytest.raises(BadRequest):
        store.load([Item("A", "2", {}, 0, None)])


def test_sqlite_scan_is_one_snapshot(tmp_path):
    """Given a SQLite store of 50 items, When another writer adds and changes items while a scan is
    half way, Then the scan sees the store exactly as it was when it began."""
    s = SqliteStore(tmp_path / "state.db")
    other = SqliteStore(tmp_path / "state.db")
    for i in range(50):
        s.put(Item("P", f"{i:03d}", {"i": i}))
    scan = s.scan(page_size=10)
    first = [next(scan) for _ in range(5)]
    other.put(Item("P", "000", {"i": "changed"}))
    other.put(Item("P", "049", {"i": "changed"}))
    other.put(Item("Q", "new", {}))
    rest = list(scan)
    seen = first + rest
    assert len(seen) == 50 and all(i.data["i"] == int(i.sk) for i in seen)
    assert s.get("P", "049").data == {"i": "changed"}
    s.close()
    other.close()
