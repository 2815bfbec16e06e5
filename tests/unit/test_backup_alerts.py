"""Backup events reach the event feed, and the default alert rules fire on them: a failed drill,
a failed backup, a newest backup older than the RPO target; each resolves on the next success."""

from __future__ import annotations

import pytest

from pilothouse.clock import ManualClock
from pilothouse.domain import backups as dom
from pilothouse.errors import PilothouseError
from pilothouse.keyring.local import LocalKeyring
from pilothouse.ports import Item
from pilothouse.services import alerts, backup_alerts, backup_drill, backup_runs, backup_schedule, backups
from pilothouse.services.event_feed import dispatch
from pilothouse.settings import Settings
from pilothouse.wiring import Services

DEFAULTS = {r["name"] for r in backup_alerts.DEFAULT_RULES}


def _services(tmp_path, **settings):
    from pilothouse.blobs.memory import MemoryBlobs

    clock = ManualClock(1_790_000_000.0)
    s = Settings(store="memory", queue="memory", blobs="memory", data_dir=tmp_path, **settings)
    services = Services(s, clock, blobs=MemoryBlobs(clock), master_keys=LocalKeyring.generate())
    for i in range(30):
        services.store.put(Item("NOTE", f"n{i:03d}", {"i": i}))
    return services


def _state(s, name: str) -> str:
    dispatch(s)
    return alerts.get_alert(s, name)["state"]


def _tamper_newest(s) -> str:
    backup_id = backups.newest(s)
    key = dom.chunk_key(backup_id, 0)
    sealed = bytearray(s.blobs.get(key))
    sealed[-1] ^= 1
    s.blobs.put(key, bytes(sealed))
    return backup_id


def test_a_failed_drill_fires_the_default_alert_and_a_good_drill_resolves_it(tmp_path):
    """Given a store with no alert rule, When a drill of a tampered backup fails, Then the default
    rules exist, ``backup.drill.failed`` is on the feed and ``backup-drill-failed`` is FIRING; When
    a good backup is drilled, Then it resolves."""
    s = _services(tmp_path)
    assert alerts.list_rules(s) == []
    backups.create(s)
    _tamper_newest(s)
    with pytest.raises(PilothouseError, match="drill"):
        backup_drill.drill(s)
    assert {r["name"] for r in alerts.list_rules(s)} >= DEFAULTS
    assert _state(s, "backup-drill-failed") == "FIRING"
    assert _state(s, "backup-failed") == "OK"
    s.clock.advance(60)
    backups.create(s)
    assert backup_drill.drill(s)["outcome"] == "ok"
    assert _state(s, "backup-drill-failed") == "RESOLVED"


def test_a_backup_older_than_the_rpo_fires_and_the_next_backup_resolves_it(tmp_path):
    """Given a backup 3 days old and an RPO of 2 days, When the backup sweep runs with backups not
    due (interval 7 days), Then ``backup-rpo-missed`` fires; When a backup succeeds, it resolves."""
    s = _services(tmp_path, backup_rpo_seconds=2 * 86_400, backup_interval_seconds=7 * 86_400)
    backups.create(s)
    s.clock.advance(3 * 86_400)
    assert backup_schedule.backup_sweep(s)["rpo"] == "missed"
    assert _state(s, "backup-rpo-missed") == "FIRING"
    backup_schedule.after_backup(s, backups.create(s, trigger="manual"))
    assert _state(s, "backup-rpo-missed") == "RESOLVED"


def test_a_failed_backup_run_fires_backup_failed(tmp_path, monkeypatch):
    """Given the blobs refuse writes, When a backup run fails, Then ``backup-failed`` fires with the
    run's error in the feed event; the next backup run that succeeds resolves it."""
    s = _services(tmp_path)
    real_put = s.blobs.put

    def refusing_put(*args, **kwargs):
        raise PilothouseError("the bucket refused the write")

    monkeypatch.setattr(s.blobs, "put", refusing_put)
    run = backup_runs.start(s, "create", requested_by="test")
    assert "failed" in backup_runs.run(s, run["id"])
    assert _state(s, "backup-failed") == "FIRING"
    monkeypatch.setattr(s.blobs, "put", real_put)
    run = backup_runs.start(s, "create", requested_by="test")
    assert "succeeded" in backup_runs.run(s, run["id"])
    assert _state(s, "backup-failed") == "RESOLVED"


def test_a_deleted_default_rule_stays_deleted_and_the_setting_turns_them_off(tmp_path):
    """Given the default rules installed and one deleted by an operator, When more backup events
    come, Then it is not created again; with ``backup_default_alerts`` off none is created."""
    s = _services(tmp_path)
    backup_schedule.after_backup(s, backups.create(s))
    alerts.delete_rule(s, "backup-rpo-missed")
    backup_drill.check_rpo(s)
    s.clock.advance(3 * 86_400)
    backup_drill.check_rpo(s)
    assert {r["name"] for r in alerts.list_rules(s)} == DEFAULTS - {"backup-rpo-missed"}
    off = _services(tmp_path / "off", backup_default_alerts=False)
    off.clock.advance(3 * 86_400)
    backup_drill.check_rpo(off)
    assert alerts.list_rules(off) == []


def test_runs_of_a_killed_local_worker_are_taken_up_again_at_start(tmp_path):
    """Given three runs leased by a process of this host that is gone (a backup, a restore, a
    forced restore) and one leased by a live process, When a local control plane starts
    (``recover_local``), Then the backup and the restore are queued again with a job message
    each, the forced restore ends interrupted, and the live one is left alone."""
    import json
    import socket
    import subprocess
    import sys

    from pilothouse.repositories.backups import BackupRepository

    s = _services(tmp_path)
    backup_id = backups.create(s)["id"]
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead, host = int(gone.stdout), socket.gethostname()
    repo = BackupRepository(s.store)
    ids = {}
    for name, kind, force, pid in (
        ("backup", "create", False, dead),
        ("restore", "restore", False, dead),
        ("forced", "restore", True, dead),
        ("live", "create", False, 1),
    ):
        run = backup_runs.start(
            s, kind, requested_by="t", backup_id=backup_id if kind == "restore" else None, force=force
        )
        item = repo.get_run(run["id"])
        lease = {
            "status": "running",
            "lease_until": s.clock.time() + 900,
            "worker": {"host": host, "pid": pid},
        }
        repo.replace_run(item, {**item.data, **lease})
        ids[name] = run["id"]
    while s.queue.receive(s.settings.jobs_queue, max_messages=10):
        pass
    assert sorted(backup_runs.recover_local(s)) == sorted(ids[n] for n in ("backup", "restore", "forced"))
    states = {name: backup_runs.get(s, rid)["status"] for name, rid in ids.items()}
    assert states == {"backup": "queued", "restore": "queued", "forced": "interrupted", "live": "running"}
    sent = [json.loads(m.body)["run_id"] for m in s.queue.receive(s.settings.jobs_queue, max_messages=10)]
    assert sorted(sent) == sorted([ids["backup"], ids["restore"]])
    assert backup_runs.recover_local(s) == []
