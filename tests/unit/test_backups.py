"""Backups through the services: take, verify, restore (resumable), refuse bad backups, drill,
retention. Memory and SQLite stores, memory blobs, an in-memory keyring."""

from __future__ import annotations

import json

import pytest

from pilothouse.clock import ManualClock
from pilothouse.domain import backups as dom
from pilothouse.domain.backups import BackupRefused
from pilothouse.errors import Conflict, NotFound, ValidationFailed
from pilothouse.keyring.local import LocalKeyring
from pilothouse.ports import Item
from pilothouse.services import backup_drill, backup_reader, backup_restore, backup_schedule, backups
from pilothouse.settings import Settings
from pilothouse.wiring import Services


def _services(tmp_path, *, store="memory", ring=None, clock=None, **settings):
    from pilothouse.blobs.memory import MemoryBlobs

    clock = clock or ManualClock(1_790_000_000.0)
    s = Settings(store=store, queue="memory", blobs="memory", data_dir=tmp_path, **settings)
    return Services(s, clock, blobs=MemoryBlobs(clock), master_keys=ring or LocalKeyring.generate())


def _fill(store, n=120):
    for i in range(n):
        store.put(Item("NOTE", f"c{i:04d}", {"name": f"c{i}", "nested": {"list": [i, None, "é"]}}))
    # a partition of no layout the migrations know: the store's version is what restore must keep
    store.put(Item("LOG#c0001", "000000000000001#1", {"type": "registered"}))
    store.put(Item("LOG#c0001", "000000000000001#1", {"type": "registered", "again": True}))  # version 2
    store.put(Item("AUDIT", "0001", {"status": 200}, expires_at=store.clock.time() + 86_400))


def _dump(store):
    """Every item but the bookkeeping and the layout version (a restore marks the layout it leaves)."""
    return sorted(
        (i.pk, i.sk, i.version, i.expires_at, json.dumps(i.data, sort_keys=True))
        for i in store.scan()
        if i.pk not in dom.BOOKKEEPING and i.pk != "SCHEMA"
    )


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_backup_then_restore_into_an_empty_store_item_for_item(tmp_path, kind):
    """Given a store of 123 items, When it is backed up in small chunks and restored into an empty
    store, Then the restored store holds the same items, versions and expiries, and the manifest
    counts every kind."""
    src = _services(tmp_path / "a", store=kind, backup_chunk_bytes=4096)
    _fill(src.store)
    summary = backups.create(src)
    assert summary["items"] == 122 and summary["chunks"] >= 3
    assert summary["counts"] == {"audit": 1, "note": 120, "log": 1}
    assert summary["compression_ratio"] > 1
    dst = _services(tmp_path / "b", store=kind, ring=src.master_keys, clock=src.clock)
    dst.__dict__["blobs"] = src.blobs
    result = backup_restore.restore(dst, summary["id"], reconcile_providers=False)
    assert result["items"] == 122
    assert _dump(dst.store) == _dump(src.store)
    assert dst.store.get("LOG#c0001", "000000000000001#1").version == 2
    assert dst.store.get("BACKUPRESTORE", "current") is None
    from pilothouse.services.migrations import LAYOUT_VERSION, layout_version

    assert layout_version(dst.store) == LAYOUT_VERSION


def test_manifest_written_last_and_listed_only_when_complete(tmp_path):
    """Given a backup whose blobs writer fails on the manifest, Then its chunks exist, it is listed
    as incomplete, and restore refuses it as incomplete."""
    s = _services(tmp_path)
    _fill(s.store, 10)
    real_put = s.blobs.put

    def failing_put(key, data, **kw):
        if key.endswith("manifest.json"):
            raise RuntimeError("killed")
        return real_put(key, data, **kw)

    s.blobs.put = failing_put  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        backups.create(s)
    listing = backups.list_backups(s)
    assert listing["items"] == [] and len(listing["incomplete"]) == 1
    with pytest.raises(BackupRefused, match="incomplete"):
        backup_restore.restore(s, listing["incomplete"][0])


@pytest.mark.parametrize(
    "damage",
    ["flip chunk byte", "truncate chunk", "drop chunk", "edit manifest count", "unknown format", "other id"],
)
def test_damaged_backups_are_refused_before_a_single_item_is_written(tmp_path, damage):
    """Given a good backup, When one of its blobs is damaged, Then verify and restore refuse it with
    a clear error and the empty target store stays empty."""
    s = _services(tmp_path, backup_chunk_bytes=4096)
    _fill(s.store, 60)
    backup_id = backups.create(s)["id"]
    chunk1 = dom.chunk_key(backup_id, 1)
    mkey = dom.manifest_key(backup_id)
    manifest = json.loads(s.blobs.get(mkey))
    if damage == "flip chunk byte":
        data = bytearray(s.blobs.get(chunk1))
        data[len(data) // 2] ^= 0x01
        s.blobs.put(chunk1, bytes(data))
    elif damage == "truncate chunk":
        s.blobs.put(chunk1, s.blobs.get(chunk1)[:-10])
    elif damage == "drop chunk":
        s.blobs.delete(chunk1)
    elif damage == "edit manifest count":
        manifest["counts"]["note"] += 1
        s.blobs.put(mkey, json.dumps(manifest).encode())
    elif damage == "unknown format":
        manifest["format_version"] = 99
        s.blobs.put(mkey, json.dumps(manifest).encode())
    else:
        other = backups.create(s)["id"]
        s.blobs.put(mkey, s.blobs.get(dom.manifest_key(other)))
    with pytest.raises(BackupRefused) as verify_error:
        backup_reader.verify(s, backup_id)
    with s.scratch_store() as target:
        with pytest.raises(BackupRefused):
            backup_restore.restore(s, backup_id, store=target)
        assert list(target.scan()) == []
    expected = {
        "flip chunk byte": "changed",
        "truncate chunk": "truncated",
        "drop chunk": "missing",
        "edit manifest count": "HMAC",
        "unknown format": "format version 99",
        "other id": "the manifest is that of backup",
    }[damage]
    assert expected in verify_error.value.detail


def test_a_backup_under_another_key_is_refused_and_rotation_keeps_old_backups(tmp_path):
    """Given a backup under keyring A, Then a control plane with keyring B refuses it before
    writing; Given a key file rotated after a backup, Then the old backup still restores and the
    new backup names the new key."""
    a = _services(tmp_path / "a")
    _fill(a.store, 5)
    backup_id = backups.create(a)["id"]
    b = _services(tmp_path / "b")
    b.__dict__["blobs"] = a.blobs
    with pytest.raises(BackupRefused, match="another key"):
        backup_restore.restore(b, backup_id)
    assert list(b.store.scan()) == []

    ring = LocalKeyring.open_file(tmp_path / "keys" / "master.json")
    c = _services(tmp_path / "c", ring=ring)
    _fill(c.store, 5)
    old = backups.create(c)
    ring.rotate()
    c.clock.advance(5)
    new = backups.create(c)
    assert old["key_id"] != new["key_id"] == ring.current_key_id()
    reopened = _services(tmp_path / "d", ring=LocalKeyring.open_file(tmp_path / "keys" / "master.json"))
    reopened.__dict__["blobs"] = c.blobs
    assert backup_restore.restore(reopened, old["id"], reconcile_providers=False)["items"] == 7


def test_non_empty_store_needs_force_and_force_replaces(tmp_path):
    """Given a backup and a store holding other items (and an API key), When restored without force,
    Then 409 naming force; With force, Then the store equals the backup apart from the kept API key."""
    s = _services(tmp_path, backup_chunk_bytes=4096)
    _fill(s.store, 30)
    backup_id = backups.create(s)["id"]
    s.store.put(Item("NOTE", "zz-new", {"name": "new"}))
    s.store.delete("NOTE", "c0003")
    s.store.put(Item("APIKEY", "k1", {"id": "k1"}))
    with pytest.raises(Conflict) as info:
        backup_restore.restore(s, backup_id, reconcile_providers=False)
    assert info.value.extra["field"] == "force"
    backup_restore.restore(s, backup_id, force=True, reconcile_providers=False)
    assert s.store.get("NOTE", "zz-new") is None
    assert s.store.get("NOTE", "c0003") is not None
    assert s.store.get("APIKEY", "k1") is not None


def test_restore_interrupted_mid_way_is_finished_by_running_it_again(tmp_path):
    """Given a restore that dies after two chunks (the store fails), When the same restore runs
    again, Then it resumes at the third chunk without needing force and ends with every item."""
    s = _services(tmp_path, store="sqlite", backup_chunk_bytes=4096)
    _fill(s.store, 200)
    summary = backups.create(s)
    target = _services(tmp_path / "t", store="sqlite", ring=s.master_keys, clock=s.clock)
    target.__dict__["blobs"] = s.blobs
    real_load = target.store.load_encoded
    calls = {"n": 0}

    def dying_load(items):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("SIGKILL stand-in")
        real_load(items)

    target.store.load_encoded = dying_load  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        backup_restore.restore(target, summary["id"], reconcile_providers=False)
    marker = target.store.get("BACKUPRESTORE", "current")
    assert marker.data["chunks_done"] == 2
    target.store.load_encoded = real_load  # type: ignore[method-assign]
    other = backups.create(s)["id"]
    with pytest.raises(Conflict, match="unfinished"):
        backup_restore.restore(target, other, reconcile_providers=False)
    result = backup_restore.restore(target, summary["id"], reconcile_providers=False)
    assert result["resumed_from_chunk"] == 2
    assert _dump(target.store) == _dump(s.store)


def test_drill_records_rpo_and_rto_and_detects_a_stale_backup(tmp_path):
    """Given a backup taken 3 days ago (RPO target 2 days), When drilled, Then the drill event has
    RPO ~3 days and an RTO, the drill succeeded, and an RPO failure event is recorded."""
    from pilothouse.services import backup_status

    s = _services(tmp_path)
    _fill(s.store, 20)
    backup_id = backups.create(s)["id"]
    s.clock.advance(3 * 86_400)
    event = backup_drill.drill(s)
    assert event["outcome"] == "ok" and event["backup_id"] == backup_id
    assert event["detail"]["rpo_seconds"] >= 3 * 86_400 and event["detail"]["rto_seconds"] >= 0
    types = [(e["type"], e["outcome"]) for e in backup_status.events(s)]
    assert ("rpo", "failed") in types and ("drill", "ok") in types
    assert backup_status.of(s, backup_id)["drill_outcome"] == "ok"


def test_retention_keeps_generations_and_the_newest_verified(tmp_path):
    """Given 40 daily backups of which an old one is the only verified, When retention runs
    (last 3, daily 5, weekly 2, monthly 2), Then the newest 5 days, the weekly and monthly picks and
    the verified one stay, the rest go, and incomplete leftovers older than a day go too."""
    s = _services(
        tmp_path,
        backup_keep_last=3,
        backup_keep_daily=5,
        backup_keep_weekly=2,
        backup_keep_monthly=2,
    )
    ids = []
    for _ in range(40):
        ids.append(backups.create(s)["id"])
        s.clock.advance(86_400)
    from pilothouse.services import backup_status

    backup_status.mark(s, ids[3], verify_outcome="ok", verified_at="x")
    s.blobs.put(dom.chunk_key(dom.new_id(s.clock.time() - 3 * 86_400), 0), b"orphan")
    out = backup_schedule.apply_retention(s)
    complete, incomplete = backups.backup_ids(s)
    assert incomplete == [] and len(out["deleted_incomplete"]) == 1
    assert set(ids[-5:]) <= set(complete)
    assert ids[3] in complete and "newest verified" in out["kept"][ids[3]]
    assert len(complete) < 12 and set(out["deleted"]).isdisjoint(complete)


def test_ids_are_validated(tmp_path):
    """Given ids with traversal, absolute paths or control characters, Then each is refused 422."""
    s = _services(tmp_path)
    for bad in ("../etc", "/abs", "20261202T030000Z-a1b2c3/../x", "20261202T030000Z-a1b2c\x00", ""):
        with pytest.raises(ValidationFailed):
            backup_restore.restore(s, bad)
    with pytest.raises(NotFound):
        backup_restore.restore(s, "20261202T030000Z-a1b2c3")


def test_racing_restores_of_one_backup_leave_one_correct_store(tmp_path):
    """Given a backup and an empty SQLite store, When two restores of it start at the same moment,
    Then each either finishes or stops with 409 (never another error), at least one finishes, no
    restore marker is left and the store equals the source item for item."""
    import threading

    s = _services(tmp_path / "s", store="sqlite", backup_chunk_bytes=4096)
    _fill(s.store, 150)
    backup_id = backups.create(s)["id"]
    target = _services(tmp_path / "t", store="sqlite", ring=s.master_keys, clock=s.clock)
    target.__dict__["blobs"] = s.blobs
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def go() -> None:
        barrier.wait()
        try:
            backup_restore.restore(target, backup_id, reconcile_providers=False)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("409")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcomes.append(repr(exc))

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) in (["409", "ok"], ["ok", "ok"]), outcomes
    assert target.store.get("BACKUPRESTORE", "current") is None
    assert _dump(target.store) == _dump(s.store)


def test_a_key_revoked_after_the_backup_stays_revoked_after_a_forced_restore(tmp_path):
    """Given two admin keys and a backup taken while both were active, When one key is revoked and
    the backup is restored with force, Then the revoked key is still refused (the backup's key
    records never overwrite the store's) and the other key still works."""
    from pilothouse.errors import Unauthorized
    from pilothouse.services import keys

    s = _services(tmp_path)
    _fill(s.store, 5)
    revoked, record = keys.create_key(s, name="a", role="admin", created_by="t")
    kept, _ = keys.create_key(s, name="b", role="admin", created_by="t")
    backup_id = backups.create(s)["id"]
    keys.revoke_key(s, record["id"])
    backup_restore.restore(s, backup_id, force=True, reconcile_providers=False)
    with pytest.raises(Unauthorized):
        keys.authenticate(s, revoked)
    assert keys.authenticate(s, kept) is not None
    assert s.store.get("APIKEY", record["id"]).data["revoked_at"] is not None


class _Killed(BaseException):
    """SIGKILL stand-in: not an Exception, so the run records nothing and keeps its lease."""


def _crash_restore_run(s, rid):
    from pilothouse.services import backup_runs

    real_load = s.store.load_encoded

    def dying_load(items):
        raise _Killed()

    s.store.load_encoded = dying_load  # type: ignore[method-assign]
    with pytest.raises(_Killed):
        backup_runs.run(s, rid)
    s.store.load_encoded = real_load  # type: ignore[method-assign]


def test_a_crashed_forced_restore_is_never_replayed_over_newer_data(tmp_path):
    """Given two forced restore runs of a backup, the first killed mid-way (the second still
    queued), When a plain restore finishes the job, new data is written, and the old runs' job
    messages come back after their leases lapse, Then neither old run clears the store or reloads the
    backup: both end interrupted and the new data stays."""
    from pilothouse.services import backup_runs

    s = _services(tmp_path, backup_chunk_bytes=4096)
    _fill(s.store, 60)
    backup_id = backups.create(s)["id"]
    s.store.put(Item("NOTE", "before", {"name": "before"}))
    first = backup_runs.start(s, "restore", requested_by="t", backup_id=backup_id, force=True)["id"]
    s.clock.advance(1)
    second = backup_runs.start(s, "restore", requested_by="t", backup_id=backup_id, force=True)["id"]
    _crash_restore_run(s, first)
    s.clock.advance(1)
    finisher = backup_runs.start(s, "restore", requested_by="t", backup_id=backup_id)["id"]
    assert "succeeded" in backup_runs.run(s, finisher)
    s.store.put(Item("NOTE", "newer", {"name": "newer"}))
    s.clock.advance(backup_runs.LEASE_SECONDS + 1)
    for rid in (first, second):
        backup_runs.run(s, rid)
        assert backup_runs.get(s, rid)["status"] == "interrupted"
    assert s.store.get("NOTE", "newer") is not None
    assert s.store.get("BACKUPRESTORE", "current") is None


def test_a_forced_restore_whose_lease_lapsed_is_interrupted_not_replayed(tmp_path):
    """Given a forced restore run killed mid-way, When its job message comes back after the lease
    lapsed, Then the run ends interrupted without touching the store (a new request is needed)."""
    from pilothouse.services import backup_runs

    s = _services(tmp_path, backup_chunk_bytes=4096)
    _fill(s.store, 30)
    backup_id = backups.create(s)["id"]
    rid = backup_runs.start(s, "restore", requested_by="t", backup_id=backup_id, force=True)["id"]
    _crash_restore_run(s, rid)
    s.store.put(Item("NOTE", "newer", {"name": "newer"}))
    s.clock.advance(backup_runs.LEASE_SECONDS + 1)
    backup_runs.run(s, rid)
    run = backup_runs.get(s, rid)
    assert run["status"] == "interrupted" and run["finished_at"]
    assert s.store.get("NOTE", "newer") is not None
    s.clock.advance(backup_runs.LEASE_SECONDS + 1)
    assert "nothing to do" in backup_runs.run(s, rid)


def test_a_forced_restore_keeps_the_chained_audit_trail(tmp_path):
    """Given a backup, then audit records of the hash chain written after it (day partitions
    ``AUDIT#<day>`` with their ``HEAD``), When the backup is restored with force, Then the later
    records and the chain head are still there: the audit trail is appended to, never rolled back."""
    s = _services(tmp_path)
    _fill(s.store, 5)
    s.store.put(Item("AUDIT#2026-12-01", "000000000001", {"operation": "before"}))
    s.store.put(Item("AUDIT#2026-12-01", "HEAD", {"seq": 1}))
    backup_id = backups.create(s)["id"]
    s.store.put(Item("AUDIT#2026-12-01", "000000000002", {"operation": "after"}))
    s.store.put(Item("AUDIT#2026-12-01", "HEAD", {"seq": 2}))
    backup_restore.restore(s, backup_id, force=True, reconcile_providers=False)
    assert s.store.get("AUDIT#2026-12-01", "000000000002") is not None
    assert s.store.get("AUDIT#2026-12-01", "HEAD").data["seq"] == 2
    assert s.store.get("AUDIT#2026-12-01", "000000000001") is not None
