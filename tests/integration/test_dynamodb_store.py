"""DynamoDB-specific behaviour of :class:`~pilothouse.store.dynamodb.DynamoStore`, on a moto server.

The storage contract itself (conditions, transactions, paging, expiry) is
``tests/contract/test_store_contract.py``; here: the table and item layout, expired items that
DynamoDB has not deleted yet, the optimistic retry of unconditional puts, cursors, error mapping,
the wiring, and that nothing imports PynamoDB unless the DynamoDB store is configured.

moto deviates from DynamoDB in two ways that matter here (documented in the adapter too): it never
deletes expired items (so "TTL has not run yet" is what every test sees, which is the case the
adapter must handle anyway), and it does not apply conditional writes atomically against
concurrent requests — a failed TransactWriteItems restores a snapshot of the whole table, undoing
writes other requests made meanwhile — so racing *transactions* are not tested against it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pilothouse.clock import ManualClock
from pilothouse.errors import AlreadyExists, BadRequest, PayloadTooLarge, StoreError, VersionConflict
from pilothouse.store import Check, Delete, Item, Put
from pilothouse.store.base import encode_cursor
from tests.support.moto_server import REGION, MotoServer


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def table_name() -> str:
    return f"it-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(moto_server, aws_env, table_name):
    from pilothouse.store.dynamodb import DynamoStore

    s = DynamoStore(table_name, region=REGION, host=moto_server.url, clock=ManualClock(), create_table=True)
    yield s
    s.close()


@pytest.fixture
def ddb(moto_server):
    return moto_server.client("dynamodb")


def test_create_table_sets_keys_billing_and_ttl(store, ddb, table_name):
    """Given create_table=True, then the table has pk/sk string keys, on-demand billing and TTL on
    expires_at; creating it again is a no-op."""
    desc = ddb.describe_table(TableName=table_name)["Table"]
    keys = {(k["AttributeName"], k["KeyType"]) for k in desc["KeySchema"]}
    assert keys == {("pk", "HASH"), ("sk", "RANGE")}
    assert {(a["AttributeName"], a["AttributeType"]) for a in desc["AttributeDefinitions"]} == {
        ("pk", "S"),
        ("sk", "S"),
    }
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = ddb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    store.create_table()  # idempotent


def test_item_layout(store, ddb, table_name):
    """An item is pk, sk, version (N), data (a compact JSON string) and expires_at (N) only when set;
    nesting, empty containers, unicode and floats round-trip exactly."""
    data = {"a": {"b": [], "c": {}, "d": ""}, "n": 1.5, "none": None, "text": "ünïcødé ✓", "big": 10**20}
    store.put(Item("P", "with-ttl", data, expires_at=store.clock.time() + 60.5), if_absent=True)
    store.put(Item("P", "no-ttl", {}), if_absent=True)
    raw = ddb.get_item(TableName=table_name, Key={"pk": {"S": "P"}, "sk": {"S": "with-ttl"}})["Item"]
    assert set(raw) == {"pk", "sk", "version", "data", "expires_at"}
    assert raw["version"] == {"N": "1"}
    assert raw["data"]["S"] == json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    assert float(raw["expires_at"]["N"]) == store.clock.time() + 60.5
    raw2 = ddb.get_item(TableName=table_name, Key={"pk": {"S": "P"}, "sk": {"S": "no-ttl"}})["Item"]
    assert set(raw2) == {"pk", "sk", "version", "data"}
    got = store.get("P", "with-ttl")
    assert got.data == data and got.expires_at == store.clock.time() + 60.5
    # an unconditional put replaces the whole item: the TTL goes away with it
    store.put(Item("P", "with-ttl", {"x": 1}))
    raw = ddb.get_item(TableName=table_name, Key={"pk": {"S": "P"}, "sk": {"S": "with-ttl"}})["Item"]
    assert "expires_at" not in raw and raw["version"] == {"N": "2"}


def test_expired_items_not_yet_deleted_count_as_absent(store, ddb, table_name):
    """Given an item past its TTL that DynamoDB has not deleted yet, then reads skip it and
    conditions treat it as absent (if_absent succeeds at version 1, if_version/Check fail)."""
    now = store.clock.time()
    store.put(Item("P", "old", {"n": 1}, expires_at=now + 5), if_absent=True)
    store.put(Item("P", "old", {"n": 2}, expires_at=now + 5), if_version=1)
    store.clock.advance(10)
    assert "Item" in ddb.get_item(TableName=table_name, Key={"pk": {"S": "P"}, "sk": {"S": "old"}})
    assert store.get("P", "old") is None
    assert store.query("P").items == []
    with pytest.raises(VersionConflict, match="P/old changed: expected version 2, found absent"):
        store.put(Item("P", "old", {}), if_version=2)
    with pytest.raises(VersionConflict, match="found absent"):
        store.transact([Check("P", "old", version=2), Put(Item("P", "x", {}))])
    with pytest.raises(VersionConflict):
        store.delete("P", "old", if_version=2)
    assert store.put(Item("P", "old", {"n": 3}), if_absent=True).version == 1
    # an unconditional put over an expired item also starts again at version 1
    store.put(Item("P", "old2", {}, expires_at=store.clock.time() + 1))
    store.clock.advance(2)
    assert store.put(Item("P", "old2", {})).version == 1
    assert store.purge_expired() == 0  # left to DynamoDB's TTL


def test_conflicts_name_the_key_and_version(store):
    """Failed conditions raise the same classes and messages as the other adapters."""
    store.put(Item("P", "a", {}), if_absent=True)
    store.put(Item("P", "a", {}), if_version=1)
    with pytest.raises(AlreadyExists, match="^P/a already exists$"):
        store.put(Item("P", "a", {}), if_absent=True)
    with pytest.raises(VersionConflict, match="^P/a changed: expected version 1, found version 2$"):
        store.put(Item("P", "a", {}), if_version=1)
    with pytest.raises(AlreadyExists, match="^P/a already exists$"):
        store.transact([Put(Item("P", "b", {}), if_absent=True), Put(Item("P", "a", {}), if_absent=True)])
    with pytest.raises(VersionConflict, match="^P/a changed: expected version 7, found version 2$"):
        store.transact([Delete("P", "b"), Check("P", "a", version=7)])
    with pytest.raises(VersionConflict, match="^P/a changed: expected version 9, found version 2$"):
        store.transact([Check("P", "a", version=9)])  # a lone check is a consistent read
    assert store.get("P", "b") is None


def test_unconditional_put_retries_when_the_item_changes_under_it(store, ddb, table_name):
    """Given a writer that changes the item between the adapter's read and its write, then the
    unconditional put is retried and returns the exact version it wrote."""
    store.put(Item("P", "a", {"who": "first"}), if_absent=True)
    original = store._read_unconditional_puts
    calls = []

    def read_then_interfere(operations):
        current = original(operations)
        if not calls:
            ddb.put_item(
                TableName=table_name,
                Item={
                    "pk": {"S": "P"},
                    "sk": {"S": "a"},
                    "version": {"N": "2"},
                    "data": {"S": '{"who":"other"}'},
                },
            )
        calls.append(1)
        return current

    store._read_unconditional_puts = read_then_interfere
    written = store.put(Item("P", "a", {"who": "me"}))
    assert len(calls) == 2
    assert written.version == 3
    assert store.get("P", "a") == Item("P", "a", {"who": "me"}, 3, None)


def test_cursors(store):
    """A cursor from another partition is refused; a forged one outside the prefix range does not
    reach DynamoDB (which would refuse an ExclusiveStartKey outside the key condition)."""
    for i in range(5):
        store.put(Item("P", f"a#{i}", {"i": i}))
        store.put(Item("P", f"b#{i}", {"i": i}))
    page = store.query("P", "a#", limit=2)
    assert [i.sk for i in page.items] == ["a#0", "a#1"]
    with pytest.raises(BadRequest, match="another listing"):
        store.query("Q", "a#", cursor=page.cursor)
    assert [i.sk for i in store.query("P", "a#", cursor=page.cursor).items] == ["a#2", "a#3", "a#4"]
    assert store.query("P", "a#", cursor=encode_cursor("P", "b#0")).items == []
    assert len(store.query("P", "b#", cursor=encode_cursor("P", "a#9")).items) == 5
    assert len(store.query("P", "a#", cursor=encode_cursor("P", "b#0"), reverse=True).items) == 5
    assert store.query("P", "b#", cursor=encode_cursor("P", "a#9"), reverse=True).items == []
    assert [i.sk for i in store.query("P", "", limit=3, reverse=True).items] == ["b#4", "b#3", "b#2"]


def test_aws_errors_become_store_errors(moto_server, aws_env, store):
    """A missing table or an unreachable endpoint is a 503 naming the AWS/botocore error code; an
    item over 400 KB is a 413."""
    from pilothouse.store.dynamodb import DynamoStore

    missing = DynamoStore("no-such-table", region=REGION, host=moto_server.url)
    for call in (
        lambda: missing.get("P", "a"),
        lambda: missing.query("P"),
        lambda: missing.put(Item("P", "a", {}), if_absent=True),
        lambda: missing.transact([Put(Item("P", "a", {})), Put(Item("P", "b", {}))]),
    ):
        with pytest.raises(StoreError) as info:
            call()
        assert info.value.status == 503
        assert "ResourceNotFoundException" in info.value.detail
        assert info.value.extra == {"store_error": "ResourceNotFoundException"}
    unreachable = DynamoStore("t", region=REGION, host="http://127.0.0.1:9")  # nothing listens there
    unreachable._connection._max_retry_attempts_exception = 0  # fail fast: no botocore retries
    unreachable._connection._client = None
    with pytest.raises(StoreError, match="EndpointConnectionError"):
        unreachable.get("P", "a")
    with pytest.raises(PayloadTooLarge):
        store.put(Item("P", "big", {"blob": "x" * 500_000}))


def test_repository_on_dynamodb(store):
    """The component repository (record + event in one transaction) works unchanged."""
    from pilothouse.repositories.components import ComponentRepository

    repo = ComponentRepository(store)
    data = {
        "name": "web",
        "state": "Pending",
        "spec": {"environment": "dev"},
        "created_at": "t",
        "updated_at": "t",
    }
    rec = repo.create(data, {"type": "created"})
    rec2 = repo.update(rec, {**rec.data, "state": "Running"}, {"type": "started"})
    with pytest.raises(VersionConflict):
        repo.update(rec, {**rec.data, "state": "Failed"}, {"type": "stale"})
    assert rec2.version == 2
    events, _ = repo.events("web")
    assert [e["type"] for e in events] == ["created", "started"]


def test_wiring_builds_the_store_from_settings_and_environment(moto_server, monkeypatch, store, table_name):
    """store=dynamodb with AWS_ENDPOINT_URL/AWS_DEFAULT_REGION reaches the configured table."""
    from pilothouse.settings import Settings
    from pilothouse.store.dynamodb import DynamoStore
    from pilothouse.wiring import build_services

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    store.put(Item("P", "a", {"from": "fixture"}), if_absent=True)
    services = build_services(Settings(store="dynamodb", table_name=table_name))
    assert isinstance(services.store, DynamoStore)
    assert services.store.get("P", "a").data == {"from": "fixture"}
    services.close()


def test_pynamodb_is_imported_only_when_configured():
    """Importing the wiring, the runtime (and so the HTTP functions' imports) or even this adapter's
    module does not import PynamoDB; building a DynamoStore does. (botocore may come with
    Powertools; the wiring and this module alone do not import it.)"""
    code = (
        "import sys, pilothouse.wiring, pilothouse.store.dynamodb\n"
        "print(sorted(m for m in ('pynamodb', 'botocore', 'boto3') if m in sys.modules))\n"
        "import pilothouse.runtime.http, pilothouse.runtime.idempotency\n"
        "import pilothouse.services.keys, pilothouse.services.audit\n"
        "import runpy; runpy.run_path('functions/register_component/app.py')\n"
        "print('pynamodb' in sys.modules)\n"
        "from pilothouse.store.dynamodb import DynamoStore\n"
        "DynamoStore('t', region='us-east-1', host='http://127.0.0.1:9')\n"
        "print('pynamodb' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    out = run.stdout
    assert out.split() == ["[]", "False", "True"]
