"""Crash safety of the local provider's replicas: recorded before they start, tagged with their data
dir, and reaped when nobody knows them -- never a process of another data dir or a foreign one.

Real processes (the greeter example and ``sleep``-like Python processes) on 127.0.0.1; each carries
a test marker so a finalizer kills whatever a failing test leaves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pilothouse.providers.base import HealthCheck, Placement, Release
from pilothouse.providers.local import LocalProvider
from tests.support.processes import kill_marked, marked_pids

pytestmark = pytest.mark.slow  # real processes

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / "shared"
MARK_VAR = "PH_CRASH_MARK"
TAG_VAR = "PILOTHOUSE_REPLICA"


@pytest.fixture
def mark() -> Iterator[str]:
    value = uuid.uuid4().hex
    yield value
    kill_marked(MARK_VAR, value)


def release(version: str, mark: str, *, name: str = "greeter", replicas: int = 1) -> Release:
    spec = yaml.safe_load((REPO / "examples" / "greeter" / "component.yaml").read_text())
    target = {**spec["target"], "cwd": str(REPO), "grace_seconds": 2}
    target["env"] = {**(target.get("env") or {}), MARK_VAR: mark}
    return Release(
        component=name,
        version=version,
        target=target,
        config={},
        health=HealthCheck(path="/health", timeout_seconds=15),
        replicas=replicas,
    )


def _payload(rel: Release) -> dict:
    return {
        "component": rel.component,
        "version": rel.version,
        "target": rel.target,
        "config": rel.config,
        "health": rel.health.__dict__,
        "replicas": rel.replicas,
    }


# deploys every release given, prints only the first placement (as if it had crashed before it
# could record the others), then waits to be killed
_CONTROL_PLANE = """
import json, sys, time
from pathlib import Path
from pilothouse.providers.base import Release, HealthCheck
from pilothouse.providers.local import LocalProvider
provider = LocalProvider(Path(sys.argv[1]))
placements = []
for raw in json.loads(sys.argv[2]):
    raw["health"] = HealthCheck(**raw["health"])
    placements.append(provider.deploy(Release(**raw)))
print(json.dumps(placements[0].to_dict()), flush=True)
time.sleep(60)
"""


def crashed_control_plane(data: Path, releases: list[Release]) -> Placement:
    """Run a control plane that deploys ``releases``, SIGKILL it; the first placement it reported."""
    env = {**os.environ, "PYTHONPATH": str(SHARED)}
    argv = [sys.executable, "-c", _CONTROL_PLANE, str(data), json.dumps([_payload(r) for r in releases])]
    cp = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env, cwd=str(REPO))
    try:
        line = cp.stdout.readline() if cp.stdout else b""
    finally:
        cp.kill()
        cp.wait()
    assert line, "the control plane reported nothing"
    return Placement.from_dict(json.loads(line))


def tagged_pids(tag_prefix: str) -> list[int]:
    """Live processes whose PILOTHOUSE_REPLICA starts with ``tag_prefix``."""
    import psutil

    found = []
    for p in psutil.process_iter(["pid", "status"]):
        if p.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            if p.environ().get(TAG_VAR, "").startswith(tag_prefix):
                found.append(p.info["pid"])
        except psutil.Error:
            continue
    return found


def sleeper(env: dict[str, str]) -> subprocess.Popen:
    """A process that only waits (in a session of its own), with ``env`` added to ours."""
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"],
        env={**os.environ, **env},
        start_new_session=True,
    )


def wait_until(check, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_replicas_no_placement_records_are_stopped_by_the_next_clean_shutdown(tmp_path: Path, mark: str):
    """Given a control plane that deployed two components but was SIGKILLed before it recorded the
    second one's placement (its replicas live on, known to nobody)
    When a fresh provider on the same data dir restores the one recorded placement and is then
    closed cleanly
    Then the restore adopts the recorded replicas, and after the close not one process of the test
    is left (the unrecorded replicas included)."""
    data = tmp_path / "data"
    placement = crashed_control_plane(
        data, [release("1.0.0", mark, replicas=2), release("1.0.0", mark, name="lost", replicas=2)]
    )
    assert len(marked_pids(MARK_VAR, mark)) == 4

    fresh = LocalProvider(data, poll_interval=0.05)
    try:
        restored = fresh.restore(placement, release("1.0.0", mark, replicas=2))
        adopted = {r["pid"] for r in restored.details["replicas"]}
        assert adopted == {r["pid"] for r in placement.details["replicas"]}
    finally:
        fresh.close()

    assert wait_until(lambda: marked_pids(MARK_VAR, mark) == [], timeout=5), marked_pids(MARK_VAR, mark)


def test_unrecorded_replicas_are_reaped_after_restore_and_the_adopted_ones_kept(tmp_path: Path, mark: str):
    """Given a control plane killed after deploying two components, only the first one recorded
    When a fresh provider recovers its journal, restores the recorded placement and reaps
    Then exactly the second component's replicas are stopped; the restored ones keep serving and
    every live replica of the data dir is known to a journal record."""
    data = tmp_path / "data"
    placement = crashed_control_plane(
        data, [release("1.0.0", mark), release("1.0.0", mark, name="lost", replicas=2)]
    )
    kept = {r["pid"] for r in placement.details["replicas"]}
    fresh = LocalProvider(data, poll_interval=0.05)
    try:
        fresh.recover_journal()
        fresh.restore(placement, release("1.0.0", mark))
        reaped = fresh.reap_unmanaged()

        assert len(reaped) == 2 and not set(reaped) & kept
        assert wait_until(lambda: set(marked_pids(MARK_VAR, mark)) == kept), marked_pids(MARK_VAR, mark)
        records = fresh.journal.records()
        assert {rec["pid"] for rec in records.values()} == kept
        tags = set(tagged_pids(fresh.journal.tag + ":"))
        assert tags == kept
    finally:
        fresh.close()


def test_an_intent_without_a_pid_is_resolved_by_its_tag_and_strangers_are_left_alone(
    tmp_path: Path, mark: str
) -> None:
    """Given a journal intent whose process started but whose pid was never recorded (a crash in
    between), a process tagged with this data dir that no record knows, one tagged with another
    data dir, and an untagged one
    When a provider recovers the journal, then reaps what it does not manage
    Then the intent gets the tagged process's pid, the unknown tagged process is killed at once,
    the intent's process is stopped by the reap and its record dropped, and the other data dir's
    and the untagged processes are untouched."""
    data = tmp_path / "data"
    provider = LocalProvider(data, poll_interval=0.05)
    journal = provider.journal
    rid = journal.new_id()
    journal.intend(rid, component="greeter", version="1.0.0", revision="1.0.0+abcdef", port=1)
    intended = sleeper({TAG_VAR: journal.env_value(rid), MARK_VAR: mark})
    unknown = sleeper({TAG_VAR: journal.env_value("nobody-knows"), MARK_VAR: mark})
    other = LocalProvider(tmp_path / "other").journal
    foreign = sleeper({TAG_VAR: other.env_value("x"), MARK_VAR: mark})
    plain = sleeper({MARK_VAR: mark})
    try:
        assert wait_until(lambda: len(tagged_pids(journal.tag + ":")) == 2)

        counts = provider.recover_journal()

        assert counts == {"resolved": 1, "dropped": 0, "killed": 1}
        assert journal.get(rid)["pid"] == intended.pid
        assert unknown.wait(5) is not None
        assert intended.poll() is None and foreign.poll() is None and plain.poll() is None

        assert provider.reap_unmanaged() == [intended.pid]
        assert intended.wait(5) is not None
        assert journal.records() == {}
        assert foreign.poll() is None and plain.poll() is None
    finally:
        provider.close()
        for p in (intended, unknown, foreign, plain):
            p.kill()
            p.wait()
    assert foreign.returncode == -9 and plain.returncode == -9  # killed by us here, not by the provider


def test_every_replica_is_recorded_with_its_pid_and_tagged(tmp_path: Path, mark: str):
    """Given a provider on a data dir
    When it deploys two replicas and scales to three
    Then each replica's journal record names its pid, component and port, and each process carries
    the data dir's tag with its own id; stopping the deployment drops the records."""
    provider = LocalProvider(tmp_path / "data", poll_interval=0.05)
    try:
        rel = release("1.0.0", mark, replicas=2)
        placement = provider.scale(provider.deploy(rel), rel, 3)
        records = provider.journal.records()
        replicas = placement.details["replicas"]
        assert {r["id"] for r in replicas} == set(records)
        for r in replicas:
            assert records[r["id"]]["pid"] == r["pid"] and records[r["id"]]["port"] == r["port"]
            assert records[r["id"]]["component"] == "greeter"
        assert set(tagged_pids(provider.journal.tag + ":")) == {r["pid"] for r in replicas}

        provider.stop(placement)
        assert provider.journal.records() == {}
    finally:
        provider.close()


def test_closing_a_second_provider_leaves_the_lock_holders_replicas_alone(tmp_path, mark):
    """Given a control plane holding the data dir's lock with a replica running, when another
    process's provider on the same data dir closes (a one-off command, a test), then that replica
    is not reaped; once nobody holds the lock, a close reaps what no record knows."""
    from pilothouse.embedded.datadir_lock import DataDirLock
    from pilothouse.providers.local.identity import pid_alive

    lock = DataDirLock(tmp_path)
    lock.acquire()
    owner = LocalProvider(tmp_path, poll_interval=0.05)
    try:
        owner.deploy(release("1.0.0", mark))
        pids = marked_pids(MARK_VAR, mark)
        assert pids and all(pid_alive(p) for p in pids)
        bystander = LocalProvider(tmp_path)
        bystander.close()
        time.sleep(0.5)
        assert all(pid_alive(p) for p in pids), "a provider that does not hold the lock reaped a live replica"
    finally:
        lock.release()
        owner.close()
    assert not marked_pids(MARK_VAR, mark)


def _previous_release_identity(pid: int, *, tick_offset: int = 0) -> str:
    """The identity token the release before psutil wrote: ``<boot id>:<start time in clock ticks>``."""
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    stat = Path(f"/proc/{pid}/stat").read_text()
    ticks = int(stat[stat.rfind(")") + 2 :].split()[19])
    return f"{boot_id}:{ticks + tick_offset}"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="the previous release's token was /proc's")
@pytest.mark.parametrize("recycled", [False, True])
def test_a_journal_record_of_the_previous_release_is_still_recognised(
    tmp_path: Path, mark: str, recycled: bool
) -> None:
    """Given a journal record written by the previous release (its literal JSON, with the
    ``<boot id>:<ticks>`` identity of that time) for a live process whose environment carries no tag
    When a provider of this release recovers the journal and reaps what it does not manage
    Then the record is recognised as that process and the process is stopped with it; had the pid
    been recycled (another start tick), the record is dropped and the stranger left alone."""
    from pilothouse.providers.local.process import Replica

    data = tmp_path / "data"
    provider = LocalProvider(data, poll_interval=0.05)
    proc = sleeper({MARK_VAR: mark})
    try:
        identity = _previous_release_identity(proc.pid, tick_offset=1 if recycled else 0)
        (data / "replicas").mkdir(parents=True)
        (data / "replicas" / "0123456789abcdef.json").write_text(
            '{"component": "greeter", "control_plane": 4242, "id": "0123456789abcdef", '
            f'"identity": "{identity}", "pid": {proc.pid}, "port": 4100, "recorded_at": 1764581000.5, '
            '"revision": "1.0.0+ab12cd", "version": "1.0.0"}'
        )
        record = provider.journal.get("0123456789abcdef")
        assert record is not None
        assert Replica.from_dict(record).is_same_process() is not recycled

        counts = provider.recover_journal()

        if recycled:
            assert counts == {"resolved": 0, "dropped": 1, "killed": 0}
            assert provider.reap_unmanaged() == []
            assert proc.poll() is None
        else:
            assert counts == {"resolved": 0, "dropped": 0, "killed": 0}
            assert provider.reap_unmanaged() == [proc.pid]
            assert proc.wait(5) is not None
        assert provider.journal.records() == {}
    finally:
        provider.close()
        proc.kill()
        proc.wait()
