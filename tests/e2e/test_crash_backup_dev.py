"""SIGKILL of the real ``pilothouse dev`` (its whole process group) in the middle of a backup and
in the middle of a restore, then ``pilothouse dev`` again on the same data dir.

- Mid-backup: the killed attempt leaves chunks and no manifest (an incomplete backup, never
  offered); the restarted control plane takes the run up again at once and it succeeds.
- Mid-restore: the forced restore run ends ``interrupted`` (a forced restore is never replayed
  behind the caller's back); the same restore requested again resumes where the killed one
  stopped and the store ends as the backup has it: same items, same per-kind digest.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pilothouse.domain import backups as dom
from pilothouse.ports import Item
from pilothouse.repositories.backups import RESTORE, RESTORE_SK
from tests.support import processes
from tests.support.e2e import DevProcess, kill_marked, make_admin_key

pytestmark = pytest.mark.slow

ITEMS = 40_000
KIND = "crashtest"


class BackupDev(DevProcess):
    """``pilothouse dev`` with small backup chunks (many chunks: a kill lands between two)."""

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, "PILOTHOUSE_BACKUP_CHUNK_BYTES": "65536"}


@pytest.fixture
def dev(tmp_path) -> Iterator[BackupDev]:
    marker = uuid.uuid4().hex
    server = BackupDev(tmp_path / "data", tmp_path, make_admin_key(), marker)
    try:
        yield server
    finally:
        for client in server.clients:
            client.close()
        server.kill()
        kill_marked(marker)
        processes.kill_replicas(server.data_dir / "processes")


def _store(dev: DevProcess):
    from pilothouse.store.sqlite import SqliteStore

    return SqliteStore(dev.data_dir / "state.db")


def _seed(dev: DevProcess) -> None:
    store = _store(dev)
    batch = []
    for i in range(ITEMS):
        doc = {"n": i, "name": f"item-{i}", "spec": {"image": "x" * 40, "tags": ["a", "b", str(i % 7)]}}
        batch.append(Item(f"CRASHTEST#p{i % 50}", f"{i:08d}", doc, 1 + i % 3))
        if len(batch) == 2000:
            store.load(batch)
            batch = []
    store.close()


def _digest(dev: DevProcess) -> tuple[int, str]:
    """The count and digest of the seeded kind in the store (as a manifest computes them)."""
    from pilothouse.services.backups import item_line

    found = dom.KindDigests()
    store = _store(dev)
    for i in store.scan(page_size=1000):
        if dom.kind_of(i.pk) == KIND:
            found.add(i.pk, item_line(i.pk, i.sk, i.version, i.expires_at, i.data))
    store.close()
    return found.counts.get(KIND, 0), found.digests().get(KIND, "")


def _run(client: httpx.Client, run_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/backup-runs/{run_id}")
    assert response.status_code == 200, response.text
    return response.json()


def _wait(client: httpx.Client, run_id: str, until, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = _run(client, run_id)
        if until(run):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never got there: {_run(client, run_id)}")


def _done(run: dict[str, Any]) -> bool:
    return run["status"] not in ("queued", "running") and run.get("finished_at") is not None


def _soon(check, what: str, timeout: float = 300) -> None:
    """Poll ``check`` every 5 ms until it holds: the kill must land mid-run, and a backup or restore
    of this size takes about a second on a quiet machine (its progress is recorded only every
    0.5 s, too seldom to time a kill by)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.005)


def _files(dev: DevProcess, pattern: str) -> list:
    return list((dev.data_dir / "blobs").rglob(pattern))


@pytest.mark.timeout(900)
def test_sigkill_of_pilothouse_dev_mid_backup_and_mid_restore(dev: BackupDev):
    """Given ``pilothouse dev`` on a store of 40,000 seeded items
    When it is SIGKILLed during a backup and started again
    Then that run is taken up again and succeeds with every item, the killed attempt is incomplete
    (chunks, no manifest) and never offered
    When the store is changed, a forced restore of the backup is SIGKILLed while loading, and dev
    is started again
    Then the restore run ends interrupted (not replayed); the same restore requested again resumes
    from a later chunk and the store holds exactly the backup's items (count and digest)."""
    _seed(dev)
    dev.start()
    client = dev.http()

    # -- mid-backup ----------------------------------------------------------------------------
    run = client.post("/v1/backups", json={}).json()
    _soon(lambda: len(_files(dev, "chunk-*")) >= 3 or _files(dev, dom.MANIFEST), "3 chunks written")
    dev.kill()
    assert not _files(dev, dom.MANIFEST), "the backup ended before the kill"
    dev.start()
    client = dev.http()
    backup = _wait(client, run["id"], _done)
    assert backup["status"] == "succeeded", backup
    backup_id = backup["result"]["id"]
    listing = client.get("/v1/backups").json()
    assert backup_id in [b["id"] for b in listing["items"]]
    assert listing["incomplete"], "the killed attempt left no chunk"
    assert backup_id not in listing["incomplete"]
    for incomplete in listing["incomplete"]:
        refused = client.post(f"/v1/backups/{incomplete}/restore", json={"force": True})
        assert refused.status_code in (404, 422), refused.text
    manifest = client.get(f"/v1/backups/{backup_id}").json()
    assert manifest["counts"][KIND] == ITEMS

    # -- mid-restore ---------------------------------------------------------------------------
    assert dev.interrupt() == 0
    store = _store(dev)  # the store moves on after the backup: deletes, changes, additions
    for i in range(0, ITEMS, 10):
        store.delete(f"CRASHTEST#p{i % 50}", f"{i:08d}")
    for i in range(5, ITEMS, 10):
        store.put(Item(f"CRASHTEST#p{i % 50}", f"{i:08d}", {"changed": True}))
    for i in range(1000):
        store.put(Item("CRASHTEST#extra", f"{i:08d}", {"after": "backup"}))
    store.close()
    assert _digest(dev)[1] != manifest["digests"][KIND]
    dev.start()
    client = dev.http()
    first = client.post(f"/v1/backups/{backup_id}/restore", json={"force": True}).json()
    store = _store(dev)
    try:
        seen: list[dict[str, Any] | None] = []

        def marker() -> dict[str, Any] | None:
            item = store.get(RESTORE, RESTORE_SK)
            return item.data if item else None

        def three_in_or_gone() -> bool:  # the marker goes when the restore ends
            seen.append(marker())
            return (seen[-1] or {}).get("chunks_done", 0) >= 3 or (seen[-1] is None and any(seen))

        _soon(three_in_or_gone, "3 chunks in")
        dev.kill()
        assert marker() is not None, "the restore ended before the kill"
    finally:
        store.close()
    dev.start()
    client = dev.http()
    ended = _wait(client, first["id"], _done)
    assert ended["status"] == "interrupted", ended
    again = client.post(f"/v1/backups/{backup_id}/restore", json={"force": True}).json()
    finished = _wait(client, again["id"], _done)
    assert finished["status"] == "succeeded", finished
    assert finished["result"]["resumed_from_chunk"] >= 3
    assert dev.interrupt() == 0
    assert _digest(dev) == (ITEMS, manifest["digests"][KIND])
