"""Backups of a DynamoDB store from DynamoDB's native point-in-time export
(``backup_dynamodb_export``), on a moto server (moto 5.2.5 implements ExportTableToPointInTime and
DescribeExport: one gzip DYNAMODB_JSON data file, no manifest files, PITR required).

The export-based backup holds exactly the items (and per-kind digests) of a scan-based one, its
manifest says it is one point in time, the export's unsealed files are gone afterwards, and it
restores item for item into SQLite."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from pilothouse.clock import ManualClock
from pilothouse.domain import backups as dom
from pilothouse.errors import StoreError
from pilothouse.keyring.local import LocalKeyring
from pilothouse.ports import Item
from pilothouse.services import backup_reader, backup_restore, backups
from pilothouse.settings import Settings
from pilothouse.wiring import Services
from tests.support.moto_server import REGION, MotoServer

ITEMS = [
    Item("COMPONENT", "web", {"name": "web", "spec": {"replicas": 3, "ratio": 0.1, "big": 2**62}}),
    Item("COMPONENT", "ünïcode-☃", {"text": 'line\nbreak "quotes" \\u0041 \u0000 nul \u2028', "e": {}}),
    Item("COMPONENT#web", "EVENT#0001", {"type": "registered", "n": None, "f": -1.5e-300}),
    Item("AUDIT#2026-12-02", "0001", {"status": 200}),
]


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def aws(monkeypatch, moto_server):
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return {
        name: boto3.client(name, region_name=REGION, endpoint_url=moto_server.url)
        for name in ("dynamodb", "s3", "kms")
    }


def _dump(store):
    return sorted(
        (i.pk, i.sk, i.version, None if i.expires_at is None else float(i.expires_at), json.dumps(i.data))
        for i in store.scan()
        if i.pk not in dom.BOOKKEEPING
    )


def _setup(tmp_path, moto_server, aws, *, pitr: bool):
    from pilothouse.blobs.s3 import S3Blobs
    from pilothouse.store.dynamodb import DynamoStore

    clock = ManualClock(1_790_000_000.0)
    table = f"export-{uuid.uuid4().hex[:10]}"
    store = DynamoStore(table, region=REGION, host=moto_server.url, clock=clock, create_table=True)
    if pitr:
        aws["dynamodb"].update_continuous_backups(
            TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    for item in ITEMS:
        store.put(item)
    store.put(Item("COMPONENT", "web", {**ITEMS[0].data, "updated": True}))  # version 2
    store.put(Item("IDEMPOTENCY", "k", {"status": "COMPLETED"}, expires_at=clock.time() + 3600.25))
    store.put(Item("IDEMPOTENCY", "gone", {"status": "COMPLETED"}, expires_at=clock.time() - 1))  # expired
    for i in range(300):
        store.put(Item(f"EXECUTION#wf#r{i % 7}", f"HIST#{i:06d}", {"event": i, "pad": "x" * 40}))
    key_arn = aws["kms"].create_key()["KeyMetadata"]["Arn"]
    bucket = f"backups-{uuid.uuid4().hex[:8]}"
    blobs = S3Blobs(bucket, client=aws["s3"], kms_key_id=key_arn, create_bucket=True)

    def services(export: bool) -> Services:
        settings = Settings(
            store="dynamodb",
            blobs="s3",
            bucket_name=bucket,
            kms_key_id=key_arn,
            data_dir=tmp_path,
            backup_chunk_bytes=8192,
            backup_dynamodb_export=export,
        )
        return Services(settings, clock, store=store, blobs=blobs, master_keys=LocalKeyring.generate())

    return services, store, bucket, clock


def test_a_backup_from_the_point_in_time_export_equals_a_scan_and_restores_item_for_item(
    tmp_path, moto_server, aws
):
    """Given a DynamoDB table with PITR and tricky items (unicode, escapes, U+2028, floats, big
    ints, versions > 1, an expired item), When one backup is taken from the native export and
    one from a Scan, Then both count the same kinds with the same digests, the export's manifest
    says it is one point in time, no export file is left in the bucket, it verifies, and it
    restores into SQLite item for item."""
    from pilothouse.store.sqlite import SqliteStore

    services, store, bucket, clock = _setup(tmp_path, moto_server, aws, pitr=True)
    by_export = services(export=True)
    exported = backups.create(by_export)
    clock.advance(1)
    scanned = backups.create(services(export=False))
    assert "ExportTableToPointInTime" in exported["consistency"]
    assert "Scan" in scanned["consistency"]
    assert exported["items"] == scanned["items"] == 305  # the expired item is in neither
    assert exported["counts"] == scanned["counts"]
    digests = [backups.get(by_export, b["id"])["digests"] for b in (exported, scanned)]
    assert digests[0] == digests[1]
    assert aws["s3"].list_objects_v2(Bucket=bucket, Prefix="exports/").get("KeyCount", 0) == 0
    assert backup_reader.verify(by_export, exported["id"])["ok"]

    target = Services(
        Settings(store="sqlite", data_dir=tmp_path / "t"),
        clock,
        store=SqliteStore(tmp_path / "t.db", clock),
        blobs=by_export.blobs,
        master_keys=by_export.master_keys,
    )
    backup_restore.restore(target, exported["id"], reconcile_providers=False, migrate_layout=False)
    assert _dump(target.store) == _dump(store)


def test_without_point_in_time_recovery_the_export_backup_fails_and_leaves_no_backup(
    tmp_path, moto_server, aws
):
    """Given a table without PITR, When a backup from the export is asked for, Then it fails with
    a message naming PITR and the setting, and no backup (complete or not) is left."""
    services, _, _, _ = _setup(tmp_path, moto_server, aws, pitr=False)
    s = services(export=True)
    with pytest.raises(StoreError, match="point-in-time recovery.*backup_dynamodb_export"):
        backups.create(s)
    assert backups.backup_ids(s) == ([], [])
