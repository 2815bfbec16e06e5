"""One contract for every storage adapter (DESIGN §7). Later adapters join the `store` fixture.

DynamoDB runs against a moto server (one per session, a fresh table per test); Azure Tables against
Azurite (one per session, a fresh table per test).

What the port promises about transactions depends on the adapter's ``transaction_scope``: a
"store" adapter commits any transaction atomically; a "partition" adapter (Azure Tables) commits
one whose items share a partition key, and refuses a wider one with TransactionScopeError before
writing anything. Tests of transactions keep to one partition unless they test the scope.
"""

from __future__ import annotations

import multiprocessing
import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from pilothouse.clock import ManualClock
from pilothouse.errors import AlreadyExists, BadRequest, TransactionScopeError, VersionConflict
from pilothouse.store import Check, Delete, Item, Put
from pilothouse.store.memory import MemoryStore
from pilothouse.store.sqlite import SqliteStore


@pytest.fixture(scope="session")
def dynamodb_endpoint():
    """One moto server (a subprocess on 127.0.0.1) for the session's DynamoDB stores.

    Each test gets its own table instead of a reset, so nothing is shared between tests. The
    server handles DynamoDB requests one at a time, which gives moto DynamoDB's per-request
    atomicity (:mod:`tests.support.moto_serial_server`).
    """
    from tests.support.moto_server import MotoServer

    with MotoServer() as server:
        yield server.url


@pytest.fixture(scope="session")
def firestore_emulator():
    """One @firestore-emulator/server (node, on 127.0.0.1) for the session; each test gets its own
    collection."""
    from tests.support.firestore_emulator import FirestoreEmulator

    with FirestoreEmulator() as emulator:
        yield emulator


#: contract tests the Firestore emulator cannot pass, with the reason (strict xfails)
FIRESTORE_EMULATOR_DEVIATIONS = {
    "test_racing_conditional_writes_exactly_one_wins": (
        "@firestore-emulator/server gives every transaction one dummy id, takes no locks and ignores "
        "update_time preconditions, so two transactions that both read version 1 both commit "
        "(Firestore locks the documents a transaction reads). Racing creates, whose exists=false "
        "precondition the emulator does check, are test_firestore_racing_creates_exactly_one_wins"
    ),
    "test_racing_transactions_exactly_one_wins": "the same (update_time preconditions are ignored)",
}


@pytest.fixture(params=["memory", "sqlite", "dynamodb", "azure-tables", "firestore"])
def store(request, tmp_path, monkeypatch):
    clock = ManualClock()
    if request.param == "azure-tables":
        from tests.support.azurite import new_table_store

        s = new_table_store(clock)
    elif request.param == "memory":
        s = MemoryStore(clock)
    elif request.param == "sqlite":
        s = SqliteStore(tmp_path / "state.db", clock)
    elif request.param == "dynamodb":
        from pilothouse.store.dynamodb import DynamoStore

        endpoint = request.getfixturevalue("dynamodb_endpoint")
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        table = f"contract-{uuid.uuid4().hex[:12]}"
        s = DynamoStore(table, region="us-east-1", host=endpoint, clock=clock, create_table=True)
    else:
        from pilothouse.store.firestore import FirestoreStore

        emulator = request.getfixturevalue("firestore_emulator")
        reason = FIRESTORE_EMULATOR_DEVIATIONS.get(getattr(request.node, "originalname", request.node.name))
        if reason is not None:
            request.applymarker(pytest.mark.xfail(reason=f"firestore emulator: {reason}", strict=False))
        s = FirestoreStore(f"contract-{uuid.uuid4().hex[:12]}", client=emulator.client(), clock=clock)
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


def test_a_change_stamp_is_none_or_moves_with_every_write(store):
    """``change_stamp`` (what the API-key cache trusts): None, or a token that stays while only
    reads happen and moves with every put, delete and transaction."""
    stamp = store.change_stamp()
    if stamp is None:
        store.put(Item("S", "a", {}))
        assert store.change_stamp() is None
        return
    store.get("S", "a")
    assert store.change_stamp() == stamp
    for write in (
        lambda: store.put(Item("S", "a", {"n": 1})),
        lambda: store.transact([Put(Item("S", "b", {}))]),
        lambda: store.delete("S", "a"),
    ):
        write()
        assert store.change_stamp() != stamp
        stamp = store.change_stamp()


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


def test_a_transaction_judges_each_item_by_its_own_version(store):
    """Given items of one partition at versions 1 and 3, one expired and one absent, When a
    transaction names them all, Then each condition is judged against its own item (an expired
    item counts as absent and starts again at version 1), and a condition naming another item's
    version fails the whole transaction."""
    store.put(Item("P", "one", {"n": 1}))
    for n in range(3):
        store.put(Item("P", "three", {"n": n}))
    store.put(Item("P", "gone", {"n": 0}, expires_at=store.clock.time() - 1))
    with pytest.raises(VersionConflict):
        store.transact(
            [Put(Item("P", "one", {"n": 2}), if_version=3), Put(Item("P", "three", {"n": 3}), if_version=1)]
        )
    written = store.transact(
        [
            Put(Item("P", "three", {"n": 3}), if_version=3),
            Put(Item("P", "gone", {"n": 1}), if_absent=True),
            Put(Item("P", "one", {"n": 2}), if_version=1),
            Put(Item("P", "new", {"n": 1}), if_absent=True),
        ]
    )
    assert [(w.sk, w.version) for w in written] == [("three", 4), ("gone", 1), ("one", 2), ("new", 1)]
    assert {sk: store.get("P", sk).version for sk in ("one", "three", "gone", "new")} == {
        "one": 2,
        "three": 4,
        "gone": 1,
        "new": 1,
    }


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

    own_scope = store.transaction_scope
    store.transaction_scope = "partition"
    with pytest.raises(TransactionScopeError):
        store.transact([Put(Item("P", "a", {})), Put(Item("Q", "a", {}))])
    assert store.get("P", "a") is None and store.get("Q", "a") is None
    store.transaction_scope = own_scope
    if own_scope == "partition":  # Azure Tables: partition is all it can give (see the scope test)
        return
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


def test_independent_transactions_each_commit_or_fail_alone(store):
    """Given three one-partition transactions of which the second's condition fails, When applied
    with transact_each, Then the first and third commit whole, the second writes nothing and
    answers its conflict; a transaction wider than the scope is refused before anything is written."""
    from pilothouse.errors import AlreadyExists, TransactionScopeError

    store.put(Item("Q", "taken", {"n": 0}), if_absent=True)
    results = store.transact_each(
        [
            [Put(Item("P", "a", {"n": 1}), if_absent=True), Put(Item("P", "b", {"n": 2}), if_absent=True)],
            [
                Put(Item("Q", "new", {"n": 3}), if_absent=True),
                Put(Item("Q", "taken", {"n": 4}), if_absent=True),
            ],
            [Put(Item("R", "c", {"n": 5}), if_absent=True)],
        ]
    )
    assert [i.sk for i in results[0]] == ["a", "b"] and [i.version for i in results[0]] == [1, 1]
    assert isinstance(results[1], AlreadyExists)
    assert [i.data for i in results[2]] == [{"n": 5}]
    assert store.get("Q", "new") is None and store.get("Q", "taken").data == {"n": 0}
    assert store.get("P", "b").data == {"n": 2} and store.get("R", "c") is not None
    if store.transaction_scope == "partition":
        with pytest.raises(TransactionScopeError):
            store.transact_each(
                [[Put(Item("S", "x", {}))], [Put(Item("S", "y", {})), Put(Item("T", "z", {}))]]
            )
        assert store.get("S", "x") is None


def test_independent_transactions_apply_in_order(store):
    """Given transactions of which two write the same item (and many more besides, past one
    statement's worth of keys), When applied with transact_each, Then each sees the writes of those
    before it: the second create of the item is refused and the update of its first version holds."""
    from pilothouse.errors import AlreadyExists

    many = [[Put(Item(f"M{n}", "x", {"n": n}), if_absent=True)] for n in range(450)]
    results = store.transact_each(
        [
            [Put(Item("P", "a", {"n": 1}), if_absent=True)],
            *many,
            [Put(Item("P", "a", {"n": 2}), if_absent=True)],
            [Put(Item("P", "a", {"n": 3}), if_version=1)],
        ]
    )
    assert results[0][0].version == 1 and isinstance(results[451], AlreadyExists)
    assert results[452][0].version == 2 and store.get("P", "a").data == {"n": 3}
    assert all(r[0].version == 1 for r in results[1:451]) and store.get("M449", "x").data == {"n": 449}


def test_independent_transactions_read_their_items_together(store):
    """Given 450 items, some changed since read, When one transaction per item is applied with
    transact_each (each with its condition), Then exactly the unchanged ones are written."""
    from pilothouse.errors import VersionConflict

    first = [store.put(Item(f"K{n}", "x", {"n": n}), if_absent=True) for n in range(450)]
    for n in range(0, 450, 7):
        store.put(Item(f"K{n}", "x", {"n": -n}))
    results = store.transact_each(
        [[Put(Item(i.pk, i.sk, {"n": 1000 + n}), if_version=i.version)] for n, i in enumerate(first)]
    )
    assert [isinstance(r, VersionConflict) for r in results] == [n % 7 == 0 for n in range(450)]
    assert [store.get(f"K{n}", "x").data["n"] for n in (0, 1, 7, 449)] == [0, 1001, -7, 1449]


def test_independent_transactions_check_without_writing(store):
    """Given two items, When transact_each applies a transaction that checks one's version and
    writes another item, and one whose check of the other fails, Then the checked items are left as
    they were (a Check writes nothing), the first commits and the second answers its conflict."""
    first = store.put(Item("P", "a", {"n": 1}), if_absent=True)
    other = store.put(Item("P", "z", {"n": 0}), if_absent=True)
    results = store.transact_each(
        [
            [Check("P", "a", first.version), Put(Item("P", "b", {"n": 2}), if_absent=True)],
            [Check("P", "z", other.version + 1), Put(Item("P", "c", {"n": 3}), if_absent=True)],
        ]
    )
    assert [i.sk for i in results[0]] == ["b"] and isinstance(results[1], VersionConflict)
    assert store.get("P", "a") == first and store.get("P", "z") == other and store.get("P", "c") is None


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


def test_a_write_without_expiry_over_an_expiring_item_keeps_it_and_its_version_rising(store):
    """Given an item that expires in 10 s (a derived entry's tombstone), when it is written again
    on its version without an expiry, then the new version follows on and never expires; written
    again with an expiry, it expires then (what :mod:`pilothouse.repositories.derived` relies on)."""
    first = store.put(Item("P", "a", {"gone": True}, expires_at=store.clock.time() + 10), if_absent=True)
    again = store.put(Item("P", "a", {"n": 1}), if_version=first.version)
    assert again.version == first.version + 1 and again.expires_at is None
    store.clock.advance(3600)
    got = store.get("P", "a")
    assert got is not None and got.data == {"n": 1} and got.version == again.version
    assert got.expires_at is None and [i.sk for i in store.query("P").items] == ["a"]
    store.put(Item("P", "a", {"gone": True}, expires_at=store.clock.time() + 10), if_version=got.version)
    store.clock.advance(11)
    assert store.get("P", "a") is None
    assert store.put(Item("P", "a", {"n": 2}), if_absent=True).version == 1


def test_racing_conditional_writes_exactly_one_wins(store):
    """Given 32 threads that all expect version 1, then exactly one write wins and none is lost."""
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


def test_racing_transactions_exactly_one_wins(store):
    """Given 16 transactions racing from 8 threads, each expecting version 1 of one item and creating
    an item of its own in the same partition, Then exactly one commits, and none of the losers' items
    exists: a transaction's conditions hold or fail together (Azure: the ETags of one entity group
    transaction; DynamoDB: TransactWriteItems, on moto one request at a time as DynamoDB applies it)."""
    store.put(Item("P", "a", {"winner": None}), if_absent=True)

    def attempt(n: int) -> bool:
        try:
            store.transact(
                [
                    Put(Item("P", "a", {"winner": n}), if_version=1),
                    Put(Item("P", f"own-{n:02d}", {}), if_absent=True),
                ]
            )
            return True
        except VersionConflict:
            return False

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(16)))
    winner = results.index(True)
    assert results.count(True) == 1
    assert store.get("P", "a").data == {"winner": winner}
    assert [i.sk for i in store.query("P", "own-").items] == [f"own-{winner:02d}"]


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


def test_sqlite_keeps_documents_in_a_rowid_table(tmp_path):
    """Given a new SQLite store, Then its items live in a rowid table keyed by a separate (pk, sk)
    index (a WITHOUT ROWID table keeps whole ~1 KB documents in its interior pages, 3 or 4 a page)."""
    s = SqliteStore(tmp_path / "state.db")
    (sql,) = s._conn().execute("SELECT sql FROM sqlite_schema WHERE name = 'items'").fetchone()
    assert "WITHOUT ROWID" not in sql.upper() and "PRIMARY KEY (pk, sk)" in sql
    s.close()


def test_sqlite_file_of_the_former_layout_reads_and_writes_alike(tmp_path):
    """Given a file made with the former WITHOUT ROWID table, holding an item, When a store opens
    it, Then the item reads back, conditions hold, updates and deletes land, and the file keeps its
    layout (nothing is migrated behind the user's back)."""
    import sqlite3

    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE items (pk TEXT NOT NULL, sk TEXT NOT NULL, version INTEGER NOT NULL,"
        " data TEXT NOT NULL, expires_at REAL, PRIMARY KEY (pk, sk)) WITHOUT ROWID;"
        " CREATE INDEX items_expiry ON items (expires_at) WHERE expires_at IS NOT NULL;"
        """ INSERT INTO items VALUES ('P', 'a', 3, '{"n":1}', NULL);"""
    )
    conn.close()
    s = SqliteStore(path)
    assert s.get("P", "a") == Item("P", "a", {"n": 1}, 3)
    with pytest.raises(VersionConflict):
        s.put(Item("P", "a", {"n": 2}), if_version=2)
    with pytest.raises(AlreadyExists):
        s.put(Item("P", "a", {"n": 2}), if_absent=True)
    assert s.transact([Put(Item("P", "a", {"n": 2}), if_version=3), Put(Item("P", "b", {}))])[0].version == 4
    s.delete("P", "b", if_version=1)
    assert [(i.sk, i.version, i.data) for i in s.query("P").items] == [("a", 4, {"n": 2})]
    (sql,) = s._conn().execute("SELECT sql FROM sqlite_schema WHERE name = 'items'").fetchone()
    assert "WITHOUT ROWID" in sql
    s.close()


def test_transaction_across_partitions_follows_the_scope(store):
    """Given items in two partitions, When one transaction writes both, Then a "store" adapter
    commits both, and a "partition" adapter refuses it with TransactionScopeError, writing neither."""
    store.put(Item("A", "1", {"v": 1}), if_absent=True)
    operations = [
        Put(Item("A", "1", {"v": 2}), if_version=1),
        Put(Item("B", "1", {"new": True}), if_absent=True),
    ]
    assert store.transaction_scope in ("store", "partition")
    if store.transaction_scope == "store":
        assert [w.version for w in store.transact(operations)] == [2, 1]
        assert store.get("B", "1").data == {"new": True}
    else:
        with pytest.raises(TransactionScopeError):
            store.transact(operations)
        assert store.get("A", "1") == Item("A", "1", {"v": 1}, 1, None)
        assert store.get("B", "1") is None


def test_keys_with_every_kind_of_character_keep_order_and_prefixes(store):
    """Given sort keys with '#', '/', '?', '\\', control characters, spaces and non-ASCII text in a
    partition named with them too, When the partition is queried by prefix (both ways), Then every
    key reads back exactly, in code-point order, and only the prefix's keys come back."""
    pk = "EVENTS#a/b?c\\d"
    keys = [
        "a#1",
        "a#1/x",
        "a#1?",
        "a#\\",
        "a#\x01",
        "a# ",
        "a#~",
        "a#\x7f",
        "a#é",
        "a#.",
        "a#/",
        "a#0",
        "b#1",
    ]
    for key in keys:
        store.put(Item(pk, key, {"k": key}))
    expected = sorted(k for k in keys if k.startswith("a#"))
    assert [i.sk for i in store.query(pk, "a#").items] == expected
    assert [i.data["k"] for i in store.query(pk, "a#", reverse=True).items] == expected[::-1]
    assert [i.sk for i in store.query(pk, "a#1").items] == ["a#1", "a#1/x", "a#1?"]
    assert store.get(pk, "a#\x01").data == {"k": "a#\x01"}
    assert store.query("EVENTS#a", "").items == []


def test_large_records_round_trip(store):
    """Given a record of about 300 KB of JSON (non-ASCII text included), When it is written and read,
    Then it comes back exactly (adapters that split it over several properties join it again)."""
    data = {"blob": "é" * 50_000 + "x" * 150_000, "list": list(range(10_000))}
    store.put(Item("P", "big", data), if_absent=True)
    assert store.get("P", "big").data == data
    assert store.query("P").items[0].data == data


# -- Azure Tables (on Azurite): what the contract cannot see ---------------------------------------


@pytest.fixture
def azure_store():
    from tests.support.azurite import new_table_store

    s = new_table_store(ManualClock())
    yield s
    s.close()


# -- Firestore (on the emulator): what the contract cannot see ---------------------------------------


@pytest.fixture
def firestore_store(firestore_emulator):
    from pilothouse.store.firestore import FirestoreStore

    s = FirestoreStore(f"fs-{uuid.uuid4().hex[:12]}", client=firestore_emulator.client(), clock=ManualClock())
    yield s
    s.close()


def test_azure_unconditional_writes_lose_no_version(azure_store):
    """Given 8 threads each putting one item 5 times without a condition, Then every write lands and
    the version counts all 40 (each is conditioned on the ETag it read, and retried if it moved)."""

    def writer(n: int) -> None:
        for i in range(5):
            azure_store.put(Item("P", "hot", {"by": n, "i": i}))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(writer, range(8)))
    assert azure_store.get("P", "hot").version == 40


def test_azure_a_check_changes_neither_data_nor_version(azure_store):
    """Given an item at version 1, When a transaction checks it and writes another item, Then the checked
    item keeps its data and version; a stale check fails the whole transaction."""
    azure_store.put(Item("P", "checked", {"x": 1}), if_absent=True)
    azure_store.transact([Check("P", "checked", 1), Put(Item("P", "other", {}), if_absent=True)])
    assert azure_store.get("P", "checked") == Item("P", "checked", {"x": 1}, 1, None)
    with pytest.raises(VersionConflict):
        azure_store.transact([Check("P", "checked", 2), Put(Item("P", "more", {}), if_absent=True)])
    assert azure_store.get("P", "more") is None


def test_azure_limits_are_explicit(azure_store):
    """Given a record past the adapter's 480,000 UTF-16 units or a key past Azure's 1 KiB, Then a 413
    and a 400 naming the key say so before anything is written."""
    from pilothouse.errors import PayloadTooLarge

    with pytest.raises(PayloadTooLarge):
        azure_store.put(Item("P", "huge", {"x": "y" * 500_000}))
    with pytest.raises(BadRequest) as info:
        azure_store.put(Item("P", "#" * 300, {}))
    assert info.value.extra == {"field": "sk"}
    assert azure_store.scan_all("P") == []


def test_azure_purge_expired_removes_only_expired_items(azure_store):
    """Given an expired item, a live one with an expiry and one without, When purged, Then only the
    expired one is physically gone (Azure Tables has no TTL of its own)."""
    now = azure_store.clock.time()
    azure_store.put(Item("P", "old", {}, expires_at=now - 1))
    azure_store.put(Item("P", "soon", {}, expires_at=now + 60))
    azure_store.put(Item("Q", "kept", {}))
    assert azure_store.purge_expired() == 1
    assert azure_store.purge_expired() == 0
    assert sorted((i.pk, i.sk) for i in azure_store.scan()) == [("P", "soon"), ("Q", "kept")]


def test_firestore_racing_creates_exactly_one_wins(firestore_store):
    """Given 32 threads putting one absent item (the emulator checks Firestore's exists=false
    precondition), then exactly one create wins and the others get AlreadyExists."""

    def attempt(n: int) -> bool:
        try:
            firestore_store.put(Item("P", "new", {"winner": n}), if_absent=True)
            return True
        except AlreadyExists:
            return False

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(32)))
    assert results.count(True) == 1
    item = firestore_store.get("P", "new")
    assert item.version == 1 and item.data["winner"] == results.index(True)


@pytest.mark.parametrize(
    "pk, sk",
    [
        ("a/b", "c/d"),
        ("__x__", "__y__"),
        (".", ".."),
        ("P", "%2F"),
        ("P", "/"),
        ("ünï", "€/😀"),
        ("P", "k" * 1400),
    ],
    ids=["slashes", "dunder", "dots", "escape-lookalike", "lone-slash", "unicode", "long"],
)
def test_firestore_keys_firestore_forbids_in_ids_round_trip(firestore_store, pk, sk):
    """Given keys Firestore refuses as document ids (slashes, __x__, dots, over 1,500 bytes once
    escaped), when items are written, read, queried and scanned, then each comes back under its own
    keys and none overwrites another."""
    twin = sk.replace("/", "%2F") if "/" in sk else sk + "%2F"  # what an unescaped id would merge
    firestore_store.put(Item(pk, sk, {"k": [pk, sk]}), if_absent=True)
    firestore_store.put(Item(pk, twin, {"twin": True}), if_absent=True)
    assert firestore_store.get(pk, sk).data == {"k": [pk, sk]}
    assert firestore_store.get(pk, twin).data == {"twin": True}
    common = os.path.commonprefix([sk, twin])
    assert [i.sk for i in firestore_store.query(pk, common).items] == sorted([sk, twin])
    assert {(i.pk, i.sk) for i in firestore_store.scan()} == {(pk, sk), (pk, twin)}


def test_firestore_partitions_sharing_a_prefix_stay_apart(firestore_store):
    """Given partitions "A" and "AB" (and "A:" whose base could look alike), when "A" is queried,
    then only its own items come back, in order and in reverse."""
    for pk in ("A", "AB", "A:", "B"):
        for i in range(3):
            firestore_store.put(Item(pk, f"{i}", {"pk": pk}))
    assert [(i.pk, i.sk) for i in firestore_store.query("A").items] == [("A", "0"), ("A", "1"), ("A", "2")]
    assert [i.sk for i in firestore_store.query("A", reverse=True, limit=2).items] == ["2", "1"]


def test_firestore_refuses_keys_it_cannot_index(firestore_store):
    """Given a sort key over Firestore's 1,500-byte index limit, when it is written, then a 400."""
    with pytest.raises(BadRequest):
        firestore_store.put(Item("P", "k" * 1500, {}))


def test_firestore_purge_removes_expired_documents(firestore_store):
    """Given one expired and one live item, when purge_expired runs, then it removes the expired one only."""
    now = firestore_store.clock.time()
    firestore_store.put(Item("P", "old", {}, expires_at=now + 1))
    firestore_store.put(Item("P", "live", {}, expires_at=now + 100))
    firestore_store.put(Item("P", "forever", {}))
    firestore_store.clock.advance(2)
    assert firestore_store.purge_expired() == 1
    firestore_store.clock.advance(-2)
    assert firestore_store.get("P", "old") is None
    assert {i.sk for i in firestore_store.scan()} == {"live", "forever"}
