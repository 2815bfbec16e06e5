"""The local provider's process helpers: launch specification, identity, log tail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pilothouse.providers.base import ProviderError
from pilothouse.providers.local.launch import Sandbox, build_launch_spec
from pilothouse.providers.local.process import (
    expand,
    pid_alive,
    process_identity,
    tail_file,
)

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


def test_tail_file_keeps_last_lines(tmp_path: Path) -> None:
    """Given a log of 100 lines
    When its tail is read
    Then the last 20 lines come back; a missing file gives none."""
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))

    assert tail_file(log) == [f"line {i}" for i in range(80, 100)]
    assert tail_file(tmp_path / "missing.log") == []
