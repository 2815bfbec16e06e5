"""One control plane per data dir: a second ``pilothouse dev`` on a data dir in use, or on a busy
port, exits at once with a clear message and changes nothing."""

from __future__ import annotations

import hashlib
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.e2e import PILOTHOUSE, ROOT, DevProcess, events_of, free_port, wait_at_rest

pytestmark = pytest.mark.slow


def run_second(
    dev: DevProcess, data_dir: Path, port: int, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """``pilothouse dev`` on ``data_dir`` and ``port`` with the first one's environment; it must
    exit by itself within ``timeout`` (the test fails otherwise, after killing it)."""
    argv = [str(PILOTHOUSE), "dev", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)]
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=dev.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        text = out.decode(errors="replace")
        raise AssertionError(f"the second pilothouse dev kept running:\n{text}") from None
    return subprocess.CompletedProcess(argv, proc.returncode, out.decode(errors="replace"), "")


def snapshot(data_dir: Path) -> dict[str, str]:
    """A digest of every file under the data dir except logs (what a state change would touch)."""
    out = {}
    for path in sorted(data_dir.rglob("*")):
        if path.is_file() and "logs" not in path.parts and not path.name.endswith(("-wal", "-shm")):
            out[str(path.relative_to(data_dir))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_a_second_dev_on_a_data_dir_in_use_exits_and_changes_nothing(dev: DevProcess):
    """Given a running ``pilothouse dev`` with greeter deployed
    When a second ``pilothouse dev`` starts on the same data dir (on another port)
    Then it exits non-zero within seconds, saying the data dir is in use and by which pid; the
    first keeps serving, greeter stays Running with the same record version, events and
    processes."""
    # Given
    dev.start()
    client = dev.http()
    spec = yaml.safe_load((ROOT / "examples" / "greeter" / "component.yaml").read_text())
    spec["target"]["grace_seconds"] = 2
    assert client.post("/v1/components", json=spec).status_code == 201
    assert client.post("/v1/components/greeter/deploy", json={}).status_code == 202
    before = wait_at_rest(client, "greeter", timeout=60, want="Running")
    events_before = events_of(client, "greeter")

    # When
    second = run_second(dev, dev.data_dir, free_port())

    # Then
    assert second.returncode != 0, second.stdout
    assert "in use" in second.stdout and str(dev.proc.pid) in second.stdout, second.stdout
    assert client.get("/v1/health").status_code == 200
    after = client.get("/v1/components/greeter").json()
    assert (after["state"], after["record_version"], after["placement"]) == (
        "Running",
        before["record_version"],
        before["placement"],
    )
    assert events_of(client, "greeter") == events_before
    assert httpx.get(after["url"], timeout=5).json()["version"] == "1.0.0"


def test_a_dev_on_a_busy_port_exits_before_it_touches_its_data_dir(dev: DevProcess, tmp_path: Path):
    """Given a port something else listens on
    When ``pilothouse dev`` starts on it with a fresh data dir
    Then it exits non-zero naming the port, and the data dir holds no state (no store, no key)."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        fresh = tmp_path / "fresh"

        second = run_second(dev, fresh, port)

    assert second.returncode != 0, second.stdout
    assert str(port) in second.stdout and "in use" in second.stdout, second.stdout
    assert [p.name for p in fresh.rglob("*") if p.is_file() and p.name != "lock"] == []


def test_the_data_dir_is_free_again_once_the_first_dev_stopped(dev: DevProcess):
    """Given a ``pilothouse dev`` stopped with Ctrl-C
    When another starts on the same data dir
    Then it starts (the lock went with the first process)."""
    dev.start()
    assert dev.interrupt() == 0
    dev.start()
    assert dev.http().get("/v1/health").status_code == 200


def test_the_lock_is_released_when_the_holder_is_killed(dev: DevProcess):
    """Given a ``pilothouse dev`` SIGKILLed
    When another starts on the same data dir
    Then it starts (a lock held by a dead process is no lock)."""
    dev.start()
    dev.kill()
    dev.start()
    assert dev.http().get("/v1/health").status_code == 200
    assert snapshot(dev.data_dir)  # the state is still there
