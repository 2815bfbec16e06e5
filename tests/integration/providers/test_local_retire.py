"""Once a new revision serves everything (finalize, rollback), the old replicas are told to stop
(SIGTERM) at once and waited for in the background: the deployment does not wait for their exit.
A reaper sends SIGKILL after their grace, drops their journal records and frees their ports; the
deployment's stop and the provider's close wait for it.

Every replica carries a marker in its environment; whatever still carries it at the end is killed.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.processes import kill_marked, marked_pids

from pilothouse.providers.base import HealthCheck, Placement, Release
from pilothouse.providers.local import LocalProvider
from pilothouse.providers.local.identity import pid_alive

pytestmark = pytest.mark.slow  # real processes and servers

REPO = Path(__file__).resolve().parents[3]
MARK_VAR = "PH_TEST_MARK"

#: a replica that ignores SIGTERM (only SIGKILL ends it) and answers every GET with its version
STUBBORN = """
import json, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
signal.signal(signal.SIGTERM, signal.SIG_IGN)
version = sys.argv[2]
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"version": version}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


@pytest.fixture
def mark() -> Iterator[str]:
    value = uuid.uuid4().hex
    yield value
    kill_marked(MARK_VAR, value)


@pytest.fixture
def provider(tmp_path: Path, mark: str) -> Iterator[LocalProvider]:
    p = LocalProvider(tmp_path / "data", poll_interval=0.05, drain_seconds=3.0)
    yield p
    p.close()


def greeter(version: str, mark: str) -> Release:
    return Release(
        component="greeter",
        version=version,
        target={
            "command": ["{python}", "examples/greeter/app.py", "--port", "{port}", "--version", version],
            "cwd": str(REPO),
            "grace_seconds": 2,
            "env": {MARK_VAR: mark},
        },
        config={},
        health=HealthCheck(path="/health", timeout_seconds=15),
        replicas=1,
    )


def stubborn(version: str, mark: str, script: Path, grace: float) -> Release:
    return Release(
        component="stubborn",
        version=version,
        target={
            "command": ["{python}", str(script), "{port}", version],
            "cwd": str(REPO),
            "grace_seconds": grace,
            "env": {MARK_VAR: mark},
        },
        config={},
        health=HealthCheck(path="/health", timeout_seconds=15),
        replicas=1,
    )


def version_served(placement: Placement) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", placement.details["stable_port"], timeout=10)
    try:
        conn.request("GET", "/")
        return str(json.loads(conn.getresponse().read())["version"])
    finally:
        conn.close()


def pids_of(placement: Placement) -> set[int]:
    return {r["pid"] for r in placement.details["replicas"]}


def wait_until(check, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_finalize_stops_the_old_replicas_in_the_background(provider: LocalProvider, mark: str):
    """Given 1.0.0 deployed and 2.0.0 prepared and shifted to 100 %, when 2.0.0 is finalized, then
    finalize returns with only 2.0.0 placed and serving, and the old replica soon exits and its
    journal record goes, leaving only the new replica's."""
    first = provider.deploy(greeter("1.0.0", mark))
    old = pids_of(first)
    prepared = provider.prepare(first, greeter("2.0.0", mark))
    candidate = prepared.details["candidate"]

    done = provider.finalize(provider.shift(prepared, {candidate: 100}), candidate)

    assert {r["version"] for r in done.details["replicas"]} == {"2.0.0"}
    assert version_served(done) == "2.0.0"
    assert wait_until(lambda: not any(pid_alive(p) for p in old))
    assert wait_until(lambda: {r["id"] for r in done.details["replicas"]} == set(provider.journal.records()))


def test_a_replica_that_ignores_sigterm_is_killed_after_its_grace_and_stop_waits_for_it(
    provider: LocalProvider, mark: str, tmp_path: Path
):
    """Given a stubborn 1.0.0 (ignores SIGTERM, grace 3 s) replaced by a finalized 2.0.0, when
    finalize returns, then the old replica still runs (its grace is not over) but serves nothing;
    and when the deployment is stopped, then stop returns only once every replica, the old one
    included, is gone and the journal is empty."""
    script = tmp_path / "stubborn.py"
    script.write_text(STUBBORN)
    first = provider.deploy(stubborn("1.0.0", mark, script, grace=3.0))
    old = pids_of(first)
    prepared = provider.prepare(first, stubborn("2.0.0", mark, script, grace=3.0))
    candidate = prepared.details["candidate"]

    done = provider.finalize(provider.shift(prepared, {candidate: 100}), candidate)

    assert all(pid_alive(p) for p in old), "the old replica was waited for: finalize should not block on it"
    assert {version_served(done) for _ in range(5)} == {"2.0.0"}

    provider.stop(done)

    assert not any(pid_alive(p) for p in old | pids_of(done))
    assert provider.journal.records() == {}
    assert marked_pids(MARK_VAR, mark) == []


def test_close_waits_for_the_replicas_being_retired(tmp_path: Path, mark: str):
    """Given a stubborn replica retired by a finalize (grace 1 s), when the provider is closed at
    once, then close returns with that replica gone and no record left."""
    script = tmp_path / "stubborn.py"
    script.write_text(STUBBORN)
    provider = LocalProvider(tmp_path / "data", poll_interval=0.05)
    try:
        first = provider.deploy(stubborn("1.0.0", mark, script, grace=1.0))
        old = pids_of(first)
        prepared = provider.prepare(first, stubborn("2.0.0", mark, script, grace=1.0))
        candidate = prepared.details["candidate"]
        provider.finalize(provider.shift(prepared, {candidate: 100}), candidate)
    finally:
        provider.close()
    assert not any(pid_alive(p) for p in old)
    assert provider.journal.records() == {}
