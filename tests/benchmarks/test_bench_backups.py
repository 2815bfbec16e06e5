"""Backup and restore figures: 100,000 items on SQLite (targets: each within 10 s, peak memory
growth under 100 MB) and 10,000 on DynamoDB-on-moto; bytes per item and the compression ratio.

Anchors, run in the same test: SQLite's own online backup API (``Connection.backup``, a page copy
of the same database: the floor for a copy of this store) and, for DynamoDB, a bare boto3
paginated Scan of the same table (reading alone, no encoding, compression or sealing). Figures are
printed, never asserted; the tests assert that the copies are complete.
"""

from __future__ import annotations

import os
import resource
import sqlite3
import time
import uuid

import pytest

from pilothouse.blobs.local import LocalBlobs
from pilothouse.keyring.local import LocalKeyring
from pilothouse.ports import Item
from pilothouse.services import backup_restore, backups
from pilothouse.settings import Settings
from pilothouse.wiring import Services
from tests.support.bench import report

N_SQLITE = int(os.environ.get("BENCH_BACKUP_ITEMS", "100000"))
N_DYNAMO = int(os.environ.get("BENCH_BACKUP_DYNAMO_ITEMS", "10000"))


def _items(n: int):
    """``n`` records in this release's layout (``SCHEMA``/``layout`` first, as a real store has it,
    so a restore migrates nothing): component events, execution history, audit days and listings."""
    from pilothouse.services.migrations import LAYOUT_SK, LAYOUT_VERSION, SCHEMA_PK

    yield Item(SCHEMA_PK, LAYOUT_SK, {"version": LAYOUT_VERSION}, 1)
    for i in range(n - 1):
        pk, sk = (
            (f"COMPONENT#c{i % 500}", f"EVENT#{i:012d}"),
            (f"EXECUTION#wf#r{i % 97}", f"HIST#{i:012d}"),
            (f"AUDIT#2026-12-{1 + i % 2:02d}", f"{i:012d}"),
            ("COMPONENT", f"c{i:012d}"),
        )[i % 4]
        yield Item(
            pk,
            sk,
            {
                "name": f"component-{i}",
                "state": "Running",
                "spec": {
                    "provider": "local",
                    "version": f"1.{i % 10}.0",
                    "replicas": i % 5,
                    "env": {"A": "x" * 24},
                },
                "at": "2026-12-02T03:00:00.000Z",
                "n": i,
            },
            1 + i % 3,
            None if i % 4 else 1_900_000_000.0 + i,
        )


def _seed(store, n: int) -> None:
    batch: list[Item] = []
    for item in _items(n):
        batch.append(item)
        if len(batch) == 1000:
            store.load(batch)
            batch = []
    if batch:
        store.load(batch)


def _timed(fn):
    began = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - began


def _max_rss_mb() -> float:
    """The process's peak resident set so far (MB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.timeout(3600)
def test_sqlite_100k_backup_and_restore(tmp_path):
    from pilothouse.store.sqlite import SqliteStore

    source_path = tmp_path / "source.db"
    source = SqliteStore(source_path)
    _seed(source, N_SQLITE)
    ring = LocalKeyring.open_file(tmp_path / "keys" / "master.json")
    blobs = LocalBlobs(tmp_path / "blobs")
    settings = Settings(store="sqlite", data_dir=tmp_path / "data")
    services = Services(settings, store=source, blobs=blobs, master_keys=ring)

    def anchor():
        with sqlite3.connect(source_path) as src, sqlite3.connect(tmp_path / "anchor.db") as dst:
            src.backup(dst)

    _, anchor_s = _timed(anchor)
    before_backup = _max_rss_mb()  # seeding loaded 1,000 items at a time: a low water mark
    summary, backup_s = _timed(lambda: backups.create(services))
    backup_mb = _max_rss_mb() - before_backup
    assert summary["items"] == N_SQLITE

    def restore_into(name: str) -> dict:
        target = Services(settings, store=SqliteStore(tmp_path / name), blobs=blobs, master_keys=ring)
        return backup_restore.restore(target, summary["id"], reconcile_providers=False)

    before_restore = _max_rss_mb()
    result, restore_s = _timed(lambda: restore_into("restored.db"))
    restore_mb = _max_rss_mb() - before_restore  # beyond the backup's peak: a lower bound
    assert result["items"] == N_SQLITE
    report(
        f"backup/restore of {N_SQLITE:,} items on SQLite",
        {
            "backup (s)": f"{backup_s:.2f}  (target <= 10)",
            "restore, verify first (s)": f"{restore_s:.2f}  (target <= 10)",
            "anchor: sqlite3 online backup (s)": f"{anchor_s:.3f}",
            "backup / anchor": f"{backup_s / anchor_s:.1f}x",
            "restore / anchor": f"{restore_s / anchor_s:.1f}x",
            "peak RSS growth, backup (MB)": f"{backup_mb:.1f}  (target < 100)",
            "peak RSS growth beyond it, restore (MB)": f"{restore_mb:.1f}  (target < 100)",
            "chunks": summary["chunks"],
            "stored bytes per item": f"{summary['bytes'] / N_SQLITE:.1f}",
            "JSON bytes per item": f"{summary['raw_bytes'] / N_SQLITE:.1f}",
            "compression ratio": f"{summary['compression_ratio']}x",
            "load average (1 min)": f"{os.getloadavg()[0]:.1f}",
        },
    )


@pytest.mark.timeout(3600)
def test_dynamodb_on_moto_10k_backup_and_restore(tmp_path, monkeypatch):
    import boto3

    from pilothouse.store.dynamodb import DynamoStore
    from tests.support.moto_server import REGION, MotoServer

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    with MotoServer() as moto:
        table = f"bench-{uuid.uuid4().hex[:8]}"
        store = DynamoStore(table, region=REGION, host=moto.url, create_table=True)
        _seed(store, N_DYNAMO)
        ring = LocalKeyring.generate()
        blobs = LocalBlobs(tmp_path / "blobs")
        settings = Settings(store="dynamodb", data_dir=tmp_path / "data")
        services = Services(settings, store=store, blobs=blobs, master_keys=ring)
        client = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto.url)

        def anchor() -> int:
            n = 0
            for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
                n += len(page["Items"])
            return n

        count, anchor_s = _timed(anchor)
        assert count == N_DYNAMO
        summary, backup_s = _timed(lambda: backups.create(services))
        assert summary["items"] == N_DYNAMO
        target_store = DynamoStore(f"{table}-r", region=REGION, host=moto.url, create_table=True)
        target = Services(settings, store=target_store, blobs=blobs, master_keys=ring)
        result, restore_s = _timed(
            lambda: backup_restore.restore(target, summary["id"], reconcile_providers=False)
        )
        assert result["items"] == N_DYNAMO
    report(
        f"backup/restore of {N_DYNAMO:,} items on DynamoDB (moto server)",
        {
            "backup (s)": f"{backup_s:.2f}",
            "restore, verify first (s)": f"{restore_s:.2f}",
            "anchor: bare boto3 Scan (s)": f"{anchor_s:.2f}",
            "backup / anchor": f"{backup_s / anchor_s:.2f}x",
            "stored bytes per item": f"{summary['bytes'] / N_DYNAMO:.1f}",
            "compression ratio": f"{summary['compression_ratio']}x",
        },
    )
