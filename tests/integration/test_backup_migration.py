"""Migration between stores through a backup: SQLite -> DynamoDB (a moto server) -> SQLite, item
for item, versions and expiries included; the DynamoDB leg keeps its backup in S3 (SSE-KMS) with
its data key wrapped by KMS, all on the moto server."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from pilothouse.clock import ManualClock
from pilothouse.domain import backups as dom
from pilothouse.keyring.local import LocalKeyring
from pilothouse.ports import Item
from pilothouse.services import backup_restore, backups
from pilothouse.settings import Settings
from pilothouse.wiring import Services
from tests.support.moto_server import REGION, MotoServer


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


TRICKY = [
    Item("COMPONENT", "web", {"name": "web", "spec": {"replicas": 3, "ratio": 0.1, "big": 2**62}}),
    Item(
        "COMPONENT", "ünïcode-☃", {"text": 'line\nbreak "quotes" \\ and \u0000 nul', "empty": {}, "list": []}
    ),
    Item("EVENTS#web", "000001764115200#1#ab", {"type": "registered", "n": None, "f": -1.5e-300}),
    Item("AUDIT", "00000017641152000000#x", {"status": 200}),
    Item("IDEMPOTENCY", "key-1", {"status": "COMPLETED"}),
]


def _seed(store, clock):
    for item in TRICKY:
        store.put(item)
    store.put(Item("COMPONENT", "web", {**TRICKY[0].data, "updated": True}))  # version 2
    store.put(Item("AUDIT", "00000017641152000000#x", {"status": 201}, expires_at=clock.time() + 86_400))
    store.put(Item("IDEMPOTENCY", "key-2", {"status": "INPROGRESS"}, expires_at=clock.time() + 3600.25))
    for i in range(1500):  # several chunks at the smallest chunk size
        store.put(Item(f"EXECHIST#wf#run{i % 7}", f"{i:08d}", {"event": i, "pad": "x" * 40}))


def _dump(store):
    out = []
    for i in store.scan():
        if i.pk in dom.BOOKKEEPING:
            continue
        expires = None if i.expires_at is None else float(i.expires_at)
        out.append((i.pk, i.sk, i.version, expires, json.dumps(i.data, sort_keys=True)))
    return sorted(out)


def test_sqlite_to_dynamodb_to_sqlite_item_for_item(tmp_path, moto_server, aws_env):
    """Given a SQLite store with tricky records (unicode, NUL, floats, big ints, empty maps,
    expiries, versions > 1) and 1,500 history items, When it is backed up (local blobs, local
    keyring), restored into a fresh DynamoDB table, backed up again from DynamoDB (S3 with SSE-KMS,
    data key wrapped by KMS) and restored into a fresh SQLite store, Then all three stores hold the
    same items, versions and expiries, and both manifests count the same kinds."""
    import boto3

    from pilothouse.blobs.local import LocalBlobs
    from pilothouse.blobs.s3 import S3Blobs
    from pilothouse.keyring.kms import KmsKeyWrapper
    from pilothouse.store.dynamodb import DynamoStore
    from pilothouse.store.sqlite import SqliteStore

    clock = ManualClock(1_790_000_000.0)
    ring = LocalKeyring.open_file(tmp_path / "keys" / "master.json")
    local_blobs = LocalBlobs(tmp_path / "blobs")
    sqlite_settings = Settings(store="sqlite", data_dir=tmp_path / "a", backup_chunk_bytes=16_384)
    source = Services(
        sqlite_settings,
        clock,
        store=SqliteStore(tmp_path / "a.db", clock),
        blobs=local_blobs,
        master_keys=ring,
    )
    _seed(source.store, clock)
    first = backups.create(source)
    assert first["chunks"] > 3 and first["store"] == "sqlite"

    table = f"migrate-{uuid.uuid4().hex[:10]}"
    dynamo = DynamoStore(table, region=REGION, host=moto_server.url, clock=clock, create_table=True)
    dynamo_settings = Settings(
        store="dynamodb", blobs="s3", data_dir=tmp_path / "b", backup_chunk_bytes=16_384
    )
    target = Services(dynamo_settings, clock, store=dynamo, blobs=local_blobs, master_keys=ring)
    # item for item: the synthetic items are no store layout to migrate
    backup_restore.restore(target, first["id"], reconcile_providers=False, migrate_layout=False)
    assert _dump(dynamo) == _dump(source.store)

    kms = boto3.client("kms", region_name=REGION, endpoint_url=moto_server.url)
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_server.url)
    bucket = f"backups-{uuid.uuid4().hex[:8]}"
    s3_blobs = S3Blobs(bucket, client=s3, kms_key_id=key_arn, create_bucket=True)
    on_aws = Services(
        Settings(
            store="dynamodb",
            blobs="s3",
            data_dir=tmp_path / "b",
            backup_chunk_bytes=16_384,
            kms_key_id=key_arn,
        ),
        clock,
        store=dynamo,
        blobs=s3_blobs,
        master_keys=KmsKeyWrapper(key_arn, client=kms),
    )
    clock.advance(60)
    second = backups.create(on_aws)
    assert second["store"] == "dynamodb" and second["counts"] == first["counts"]
    assert second["key_id"] == key_arn and "SSE-KMS" in second["at_rest"]
    head = s3.head_object(Bucket=bucket, Key=dom.chunk_key(second["id"], 0))
    assert head["ServerSideEncryption"] == "aws:kms"

    back = Services(
        sqlite_settings,
        clock,
        store=SqliteStore(tmp_path / "c.db", clock),
        blobs=s3_blobs,
        master_keys=KmsKeyWrapper(key_arn, client=kms),
    )
    backup_restore.restore(back, second["id"], reconcile_providers=False, migrate_layout=False)
    assert _dump(back.store) == _dump(source.store)
    assert back.store.get("COMPONENT", "web").version == 2
