"""What a local replica inherits (issue 17): a minimal, explicit environment and a confined cwd.

A tiny app (written to the test's data dir) serves its own ``os.environ`` as JSON; it is deployed as
a real process on 127.0.0.1 while the control plane's environment carries credentials.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.processes import kill_marked

from pilothouse.providers.base import HealthCheck, ProviderError, Release
from pilothouse.providers.local import LocalProvider

pytestmark = pytest.mark.slow  # real processes

APP = """
import http.server, json, os, sys

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"env": dict(os.environ), "cwd": os.getcwd()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

SECRETS = {
    "PILOTHOUSE_ADMIN_KEY": "ph_0123456789ab_admin-secret",
    "PILOTHOUSE_STORE": "sqlite",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "AWS_SESSION_TOKEN": "aws-token",
    "AZURE_CLIENT_SECRET": "azure-secret",
    "GOOGLE_APPLICATION_CREDENTIALS": "/secret/gcp.json",
    "GITHUB_TOKEN": "ghp_secret",
    "SOME_UNRELATED_SETTING": "not for replicas",
}


@pytest.fixture
def mark() -> Iterator[str]:
    value = uuid.uuid4().hex
    yield value
    kill_marked("PH_TEST_MARK", value)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch) -> Path:
    """The control plane's data dir (a root replicas may work in), with the env-echo app in it; the
    control plane's environment full of credentials."""
    data = tmp_path / "data"
    (data / "app").mkdir(parents=True)
    (data / "app" / "envapp.py").write_text(APP)
    monkeypatch.setenv("PILOTHOUSE_DATA_DIR", str(data))
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PH_EXTRA_PASSED", "yes")
    monkeypatch.setenv("PILOTHOUSE_REPLICA_ENV_PASSTHROUGH", "PH_EXTRA_PASSED, PILOTHOUSE_ADMIN_KEY")
    return data


@pytest.fixture
def provider(data_dir: Path, mark: str) -> Iterator[LocalProvider]:
    p = LocalProvider(data_dir / "processes", poll_interval=0.05)
    yield p
    p.close()


def release(data_dir: Path, mark: str, **target) -> Release:
    t = {
        "command": ["{python}", "envapp.py", "{port}"],
        "cwd": str(data_dir / "app"),
        "env": {"PH_TEST_MARK": mark, "GREETING": "hi"},
        "versions": {"1.0.0": {"env": {"FLAVOUR": "one"}}},
        "grace_seconds": 1,
        **target,
    }
    return Release(
        component="envy",
        version="1.0.0",
        target=t,
        config={"a": 1},
        health=HealthCheck(path="/", timeout_seconds=10),
    )


def test_replica_sees_no_credentials_of_the_control_plane(provider, data_dir, mark):
    """Given the control plane's environment with PILOTHOUSE_ADMIN_KEY, cloud credentials and other
    settings, when a replica is deployed, then its environment holds none of them, only PATH, locale,
    its own HOME/TMPDIR under the data dir, the spec's and the version's env, its port and the
    PILOTHOUSE_COMPONENT/VERSION/CONFIG it is meant to read, plus what the operator listed in
    PILOTHOUSE_REPLICA_ENV_PASSTHROUGH (never a Pilothouse setting, even when listed)."""
    placement = provider.deploy(release(data_dir, mark))
    with urllib.request.urlopen(placement.url, timeout=5) as resp:
        seen = json.loads(resp.read())
    env = seen["env"]
    for key in SECRETS:
        assert key not in env, key
    assert not any(k.startswith(("AWS_", "AZURE_", "GOOGLE_", "GCP_")) for k in env), sorted(env)
    own = {
        "PILOTHOUSE_COMPONENT",
        "PILOTHOUSE_VERSION",
        "PILOTHOUSE_CONFIG",
        "PILOTHOUSE_REPLICA",
    }  # the last: spawn()'s reaping marker
    assert not {k for k in env if k.startswith("PILOTHOUSE_")} - own, sorted(env)
    assert env["PILOTHOUSE_COMPONENT"] == "envy" and env["PILOTHOUSE_VERSION"] == "1.0.0"
    assert json.loads(env["PILOTHOUSE_CONFIG"]) == {"a": 1}
    assert env["GREETING"] == "hi" and env["FLAVOUR"] == "one" and env["PH_TEST_MARK"] == mark
    assert env["PATH"] == os.environ["PATH"]
    assert env["PORT"] == placement.details["replicas"][0]["port"].__str__()
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PH_EXTRA_PASSED"] == "yes"  # listed for passthrough (the admin key too: ignored)
    home, tmp = Path(env["HOME"]), Path(env["TMPDIR"])
    assert home.is_dir() and tmp.is_dir()
    assert data_dir.resolve() in home.resolve().parents and data_dir.resolve() in tmp.resolve().parents
    assert Path(seen["cwd"]).resolve() == (data_dir / "app").resolve()
    assert sys.executable  # the {python} placeholder still resolves without the parent's environment


def test_launch_refuses_a_cwd_outside_the_roots(provider, data_dir, mark, tmp_path):
    """Given a target whose cwd lies outside the project and data dirs (absolute, via .., or via a
    symlink inside the data dir), when launched (a spec that skipped the register check), then
    ProviderError naming cwd and no process starts."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "envapp.py").write_text(APP)
    (data_dir / "link").symlink_to(outside, target_is_directory=True)
    for cwd in (str(outside), str(data_dir / ".." / "outside"), str(data_dir / "link"), "/"):
        with pytest.raises(ProviderError, match="cwd"):
            provider.deploy(release(data_dir, mark, cwd=cwd))
