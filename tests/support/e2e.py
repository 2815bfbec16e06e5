"""End-to-end fixtures: the real ``pilothouse dev`` and the real ``pilothouse`` CLI as subprocesses.

Everything listens on 127.0.0.1 on free ports and lives under pytest's tmp_path. The control plane
runs in its own session (so a SIGINT to its process group is a faithful Ctrl-C); the example
processes it deploys run in sessions of their own, so they are found for clean-up by a marker in
their environment (they inherit the control plane's), and killed even when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from tests.support import processes

ROOT = Path(__file__).resolve().parents[2]
PILOTHOUSE = ROOT / ".venv" / "bin" / "pilothouse"
TRANSITIONAL = frozenset({"Deploying", "Updating", "Scaling", "Stopping"})
MARKER_VAR = "PILOTHOUSE_E2E_RUN"


def make_admin_key() -> str:
    """A fresh admin key in the documented shape ``ph_<12 hex>_<secret>``."""
    return f"ph_{secrets.token_hex(6)}_{secrets.token_hex(16)}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refuses_connections(url: str, timeout: float = 5.0) -> bool:
    """True once nothing accepts a TCP connection at ``url`` (polled up to ``timeout``)."""
    parsed = httpx.URL(url)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((parsed.host, parsed.port), timeout=0.5):
                pass
        except OSError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


# -- processes left behind -------------------------------------------------------------------------


def marked_pids(marker: str) -> list[int]:
    """Pids of live processes whose environment carries ``PILOTHOUSE_E2E_RUN=<marker>``."""
    return processes.marked_pids(MARKER_VAR, marker)


def kill_marked(marker: str) -> list[int]:
    """SIGKILL every process group led by (or holding) a marked process; the pids that were found."""
    return processes.kill_marked(MARKER_VAR, marker)


# -- the control plane -----------------------------------------------------------------------------


class DevProcess:
    """``pilothouse dev`` as a subprocess on a fixed port and data dir; start/interrupt/start again."""

    def __init__(self, data_dir: Path, log_dir: Path, admin_key: str, marker: str) -> None:
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.admin_key = admin_key
        self.marker = marker
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log_path: Path | None = None
        self.clients: list[httpx.Client] = []
        #: PILOTHOUSE_SCHEDULE_SCALE of the next start: the minute sweeps run this many times as
        #: often (a test that waits on them sets it; 1 is real time)
        self.schedule_scale = 1.0
        #: PILOTHOUSE_CLOCK_SCALE of the next start: the control plane's clock (metric minutes,
        #: alert and autoscaling windows, cooldowns, the sweeps) runs this many times as fast
        self.clock_scale = 1.0

    @property
    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PILOTHOUSE_") and not k.startswith("PYTEST_")
        }
        env.update(
            PILOTHOUSE_ADMIN_KEY=self.admin_key,
            POWERTOOLS_LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
            COLUMNS="200",
            NO_COLOR="1",
            PILOTHOUSE_REPLICA_ENV_PASSTHROUGH=MARKER_VAR,  # replicas carry the marker too
            # as the suite's (tests/conftest.py): the e2e races fire dozens of mutations at once to
            # test conflicts, not the rate limiter (tests/integration/test_rate_limits.py does)
            PILOTHOUSE_RATE_LIMITS=os.environ.get("PILOTHOUSE_RATE_LIMITS", '{"enabled": false}'),
            # as the suite's: the store refuses a transaction across partitions (as Azure Tables)
            PILOTHOUSE_STORE_TRANSACTION_SCOPE=os.environ.get(
                "PILOTHOUSE_STORE_TRANSACTION_SCOPE", "partition"
            ),
            **{MARKER_VAR: self.marker},
        )
        if self.schedule_scale != 1:
            env["PILOTHOUSE_SCHEDULE_SCALE"] = str(self.schedule_scale)
        if self.clock_scale != 1:
            env["PILOTHOUSE_CLOCK_SCALE"] = str(self.clock_scale)
        return env

    def start(self, timeout: float = 30.0, *, wait_restored: bool = True) -> DevProcess:
        """Start it and wait until it answers; with ``wait_restored``, also until no component is
        still being restored in the background (what the last run left)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        self.log_path = self.log_dir / f"dev-{self.starts}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    str(PILOTHOUSE),
                    "dev",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"pilothouse dev exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError(f"pilothouse dev not healthy within {timeout}s:\n{self.log()}")
        while wait_restored and self._restoring():
            if time.monotonic() >= deadline + 60:
                raise AssertionError(f"components still restoring after {timeout + 60}s:\n{self.log()}")
            time.sleep(0.1)
        return self

    def _restoring(self) -> list[str]:
        """The components still being restored after a restart."""
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        response = httpx.get(self.url + "/v1/components", params={"limit": 200}, headers=headers, timeout=5)
        response.raise_for_status()
        return [c["name"] for c in response.json()["items"] if c.get("restoring")]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def interrupt(self, timeout: float = 15.0) -> int:
        """Ctrl-C: SIGINT to the control plane's process group; its exit code (fails on a hang)."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"pilothouse dev ignored SIGINT for {timeout}s:\n{self.log()}") from None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)

    def http(self, key: str | None = "admin") -> httpx.Client:
        """An HTTP client for the API (admin key by default); closed when the test ends."""
        headers = {"Authorization": f"Bearer {self.admin_key if key == 'admin' else key}"} if key else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=30)
        self.clients.append(client)
        return client


# -- the CLI ---------------------------------------------------------------------------------------


@dataclass
class CliResult:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return (
            f"pilothouse {' '.join(self.args)} -> {self.code}\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


class Cli:
    """Runs ``.venv/bin/pilothouse`` against a control plane, configured by environment only."""

    def __init__(self, url: str, api_key: str | None) -> None:
        self.url = url
        self.api_key = api_key

    def env(self, api_key: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PILOTHOUSE_")}
        env.update(PILOTHOUSE_URL=self.url, COLUMNS="200", NO_COLOR="1", TERM="dumb")
        if api_key:
            env["PILOTHOUSE_API_KEY"] = api_key
        return env

    def __call__(self, *args: str, key: str | None = "default", timeout: float = 60.0) -> CliResult:
        key = self.api_key if key == "default" else key
        done = subprocess.run(
            [str(PILOTHOUSE), *args],
            cwd=ROOT,
            env=self.env(key),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return CliResult(args, done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str, **kw: Any) -> CliResult:
        result = self(*args, **kw)
        assert result.code == 0, str(result)
        return result


# -- waiting ---------------------------------------------------------------------------------------


def wait_at_rest(
    client: httpx.Client, name: str, timeout: float = 30.0, *, want: str | None = None
) -> dict[str, Any]:
    """The component once it is out of its transitional state (and in ``want``, if given)."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = client.get(f"/v1/components/{name}")
        body = response.json()
        if (
            response.status_code == 200
            and body.get("state") not in TRANSITIONAL
            and (want is None or body.get("state") == want)
        ):
            return body
        time.sleep(0.15)
    raise AssertionError(f"{name} not at rest{' in ' + want if want else ''} after {timeout}s: {body}")


def events_of(client: httpx.Client, name: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/components/{name}/events", params={"limit": 500, "order": "asc"})
    assert response.status_code == 200, response.text
    return response.json()["items"]
