"""The local provider's process helpers: launch specification, identity, log tail."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pilothouse.providers.base import ProviderError
from pilothouse.providers.local.identity import pid_alive, process_identity, process_start_time, same_process
from pilothouse.providers.local.launch import Sandbox, build_launch_spec
from pilothouse.providers.local.process import expand, tail_file

TARGET = {
    "command": ["{python}", "app.py", "--port", "{port}"],
    "env": {"GREETING": "hello", "LEVEL": 3},
    "versions": {"2.0.0": {"args": ["--version", "2.0.0"], "env": {"GREETING": "hi", "EXTRA": "x"}}},
}


def test_launch_spec_merges_version_args_env_and_config(tmp_path: Path) -> None:
    """Given a target with env, a versions map and a cwd
    When the spec of version 2.0.0 is built
    Then the version's args are appended, its env wins over the target's, and the config is JSON."""
    sandbox = Sandbox(roots=(tmp_path,), base=tmp_path, scratch=tmp_path / "replicas")
    target = {**TARGET, "cwd": str(tmp_path)}
    spec = build_launch_spec("greeter", "2.0.0", target, {"a": [1, 2]}, sandbox=sandbox)

    assert spec.argv == ["{python}", "app.py", "--port", "{port}", "--version", "2.0.0"]
    assert spec.env["GREETING"] == "hi"
    assert spec.env["LEVEL"] == "3"
    assert spec.env["EXTRA"] == "x"
    assert json.loads(spec.env["PILOTHOUSE_CONFIG"]) == {"a": [1, 2]}
    assert spec.env["PILOTHOUSE_VERSION"] == "2.0.0"
    assert spec.env["PATH"] == os.environ["PATH"]
    assert spec.cwd == str(tmp_path.resolve())
    assert spec.grace_seconds == 5.0


def test_launch_spec_unknown_version_string_command_and_placeholders() -> None:
    """Given a command line string and a version not in the versions map
    When the spec is built and expanded for port 1234
    Then it is split like a shell would, gets no extra args, and {python}/{port} are filled in."""
    target = {"command": "{python} -m http.server '{port}'", "grace_seconds": 1}
    spec = build_launch_spec("c", "9.9.9", target, {})

    assert [expand(a, port=1234, host="127.0.0.1") for a in spec.argv] == [
        sys.executable,
        "-m",
        "http.server",
        "1234",
    ]
    assert spec.grace_seconds == 1.0
    assert spec.cwd == os.getcwd()


@pytest.mark.parametrize(
    "target",
    [
        {},
        {"command": []},
        {"command": {"x": 1}},
        {"command": ["x"], "cwd": "/does/not/exist"},
        {"command": ["x"], "versions": ["1"]},
    ],
)
def test_launch_spec_rejects_bad_targets(target: dict) -> None:
    """Given an unusable target
    When the spec is built
    Then it raises ProviderError."""
    with pytest.raises(ProviderError):
        build_launch_spec("c", "1", target, {})


def test_identity_distinguishes_processes_and_ends_with_them() -> None:
    """Given a child process
    When it runs and then ends
    Then its identity is stable and differs from ours while alive, and is gone once reaped."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        ident = process_identity(child.pid)
        assert ident is not None and ident == process_identity(child.pid)
        assert ident != process_identity(os.getpid())
        assert pid_alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not pid_alive(child.pid)
    assert process_identity(child.pid) is None


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    yield proc
    proc.kill()
    proc.wait()


def test_same_process_matches_its_own_token_only(child: subprocess.Popen[bytes]) -> None:
    """Given a live child and its identity token
    When the token is checked against the child's pid, against another pid, and shifted in time
    (what a recycled pid looks like: same number, another creation time)
    Then only the child's own token matches its pid; nothing matches an absent token or pid."""
    ident = process_identity(child.pid)
    assert ident is not None and ident.startswith("psutil:")
    started = process_start_time(child.pid)
    assert started is not None and abs(started - time.time()) < 60

    assert same_process(child.pid, ident)
    assert not same_process(os.getpid(), ident)
    assert not same_process(child.pid, f"psutil:{started + 1:.6f}")
    assert not same_process(child.pid, f"psutil:{started - 0.01:.6f}")
    for bad in (None, "", "psutil:", "psutil:nan-ish", "bogus", 12345):
        assert not same_process(child.pid, bad)
    assert not same_process(0, ident) and not same_process(-1, ident)
    assert not pid_alive(0) and process_identity(0) is None


def test_a_zombie_is_dead_and_no_longer_the_same_process() -> None:
    """Given a child that has exited but was not reaped yet (a zombie)
    When its liveness and identity are checked
    Then it is not alive and no longer matches the token it had while running."""
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    ident = process_identity(zombie.pid)
    try:
        deadline = time.monotonic() + 10
        while pid_alive(zombie.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None  # unreaped
        assert not pid_alive(zombie.pid)
        assert not same_process(zombie.pid, ident)
    finally:
        zombie.wait()


def _proc_ticks(pid: int) -> str:
    """Field 22 of /proc/<pid>/stat: what the previous release stored (clock ticks since boot)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rfind(")") + 2 :].split()[19]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="the /proc token was Linux only")
def test_tokens_of_the_previous_release_are_recognised(child: subprocess.Popen[bytes]) -> None:
    """Given tokens the previous release wrote for a live child (``<boot id>:<start ticks>``)
    When they are checked against the child's pid
    Then the child's own token matches; one of another start tick or another boot does not."""
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    ticks = int(_proc_ticks(child.pid))

    assert same_process(child.pid, f"{boot_id}:{ticks}")
    assert not same_process(child.pid, f"{boot_id}:{ticks + 1}")
    assert not same_process(child.pid, f"00000000-0000-0000-0000-000000000000:{ticks}")
    assert not same_process(os.getpid(), f"{boot_id}:{ticks}")


@pytest.mark.skipif(shutil.which("ps") is None, reason="no ps")
def test_ps_tokens_of_the_previous_release_are_recognised(child: subprocess.Popen[bytes]) -> None:
    """Given the ``ps:<lstart>`` token the previous release wrote where there was no /proc
    When it is checked against the child's pid
    Then it matches the child and not a process that started at another second."""
    lstart = subprocess.run(
        ["ps", "-o", "lstart=", "-p", str(child.pid)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert same_process(child.pid, f"ps:{lstart}")
    assert not same_process(child.pid, "ps:Thu Jan  1 00:00:00 1970")


def test_tail_file_keeps_last_lines(tmp_path: Path) -> None:
    """Given a log of 100 lines
    When its tail is read
    Then the last 20 lines come back; a missing file gives none."""
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))

    assert tail_file(log) == [f"line {i}" for i in range(80, 100)]
    assert tail_file(tmp_path / "missing.log") == []
