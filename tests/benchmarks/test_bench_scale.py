"""At scale (issue 9): `pilothouse dev` on a data dir holding 10,000 components.

The components are seeded straight through the component repository (no API, no processes): a
resting fleet of Registered, Stopped and Failed components, plus 20 Deploying whose deployment has
started (in flight: the sweeps read them through the index and leave them be). Then
`pilothouse dev` runs as a subprocess on that data dir, and beside it, in the same run, the anchor:
the same command on a data dir with 0 components. For each the benchmark prints

* the time from spawn to the first answer of ``GET /v1/health`` (listening);
* idle CPU over the window (psutil ``cpu_times`` delta, % of one core) and the ratio to the anchor;
* RSS every ``BENCH_SAMPLE_SECONDS`` over ``BENCH_IDLE_SECONDS`` (default 60; 900 for the
  15-minute figure) and its drift from the first sample after warm-up to the last.

And in process: one stalled-job sweep (``services.maintenance.sweep``) over the seeded store
against the same sweep over an empty store, and ``DevServer.start`` until its gateway listens
(10,000 against 0; the subprocess figure above also holds the interpreter's start and imports).

    BENCH_IDLE_SECONDS=900 .venv/bin/python -m pytest tests/benchmarks/test_bench_scale.py -m benchmark -s

``BENCH_PYTHONPATH`` runs the subprocesses on another checkout's ``shared/`` (e.g. an export of
main, for a before/after in one run of this file); ``BENCH_COMPONENTS`` changes the fleet size.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from pilothouse.clock import iso
from pilothouse.repositories.components import ComponentRepository
from pilothouse.store.sqlite import SqliteStore
from tests.support.bench import report

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = int(os.environ.get("BENCH_COMPONENTS", "10000"))
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "60"))
SAMPLE_SECONDS = float(os.environ.get("BENCH_SAMPLE_SECONDS", "10"))
WARMUP_SECONDS = float(os.environ.get("BENCH_WARMUP_SECONDS", "15"))  # the background restore
IN_FLIGHT = 20
ADMIN_KEY = "ph_benchscale_0123456789abcdef0123"


def _record(i: int, now: float) -> dict:
    name = f"svc-{i:05d}"
    state = ("Registered", "Registered", "Registered", "Stopped", "Failed")[i % 5]
    op = None
    if i < IN_FLIGHT:  # a deploy whose deployment has started: in flight, never stalled
        state = "Deploying"
        op = {
            "id": f"{int(now * 1000):015d}-{i:05d}",
            "command": "deploy",
            "params": {},
            "deployment_started": True,
            "requested_at": iso(now),
            "requested_epoch": now,
            "requested_by": "bench",
            "request_id": None,
            "attempt": 1,
            "lease_until": None,
        }
    return {
        "name": name,
        "spec": {
            "name": name,
            "provider": "local",
            "environment": ("development", "staging", "production")[i % 3],
            "version": "1.0.0",
            "target": {"command": ["{python}", "examples/greeter/app.py", "--port", "{port}"]},
            "scaling": {"min": 1, "max": 3, "replicas": None},
            "config": {"greeting": f"hello {i}"},
        },
        "state": state,
        "version": None if state == "Registered" else "1.0.0",
        "replicas": 0,
        "url": None,
        "placement": None,
        "last_error": (
            {"command": "deploy", "reason": "bench", "logs": [], "at": iso(now)}
            if state == "Failed"
            else None
        ),
        "operation": op,
        "created_at": iso(now),
        "updated_at": iso(now),
        "created_by": "bench",
    }


def seed(data_dir: Path, n: int) -> float:
    """``n`` components straight into the data dir's SQLite store; returns the seconds it took."""
    started = time.perf_counter()
    store = SqliteStore(data_dir / "state.db")
    repo = ComponentRepository(store)
    now = time.time()
    for i in range(n):
        repo.create(
            _record(i, now), {"type": "registered", "from": None, "to": "Registered", "actor": "bench"}
        )
    store.close()
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dev:
    """`pilothouse dev` as a subprocess on ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        env = {**os.environ, "PILOTHOUSE_ADMIN_KEY": ADMIN_KEY, "PYTHONUNBUFFERED": "1"}
        project = ROOT
        if os.environ.get("BENCH_PYTHONPATH"):
            env["PYTHONPATH"] = os.environ["BENCH_PYTHONPATH"]
            project = Path(os.environ["BENCH_PYTHONPATH"]).parent
        self.log = open(data_dir.parent / f"{data_dir.name}.log", "w")  # noqa: SIM115 - closed in stop
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pilothouse.cli.main", "dev", "--host", "127.0.0.1"]
            + ["--port", str(self.port), "--data-dir", str(data_dir), "--project-dir", str(project)],
            cwd=project,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.ps = psutil.Process(self.proc.pid)
        self.listening: float | None = None

    def poll_listening(self) -> bool:
        if self.listening is not None:
            return True
        assert self.proc.poll() is None, (self.data_dir.parent / f"{self.data_dir.name}.log").read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{self.port}/v1/health", timeout=1).status_code == 200:
                self.listening = time.perf_counter() - self.started
                return True
        except httpx.HTTPError:
            pass
        return False

    def cpu(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system

    def rss_mb(self) -> float:
        return self.ps.memory_info().rss / 2**20

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _wait_listening(devs: list[Dev], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(d.poll_listening() for d in devs):
        assert time.monotonic() < deadline, "pilothouse dev did not start listening"
        time.sleep(0.01)


@pytest.mark.timeout(IDLE_SECONDS + WARMUP_SECONDS + 600)  # the window, plus seeding and starting
def test_idle_dev_server_with_10000_components(tmp_path):
    """Given 10,000 components and, beside it, 0, when `pilothouse dev` runs idle on each, then
    both answer, and the figures are printed (listening time, idle CPU, RSS over time)."""
    fleet_dir, empty_dir = tmp_path / "fleet", tmp_path / "empty"
    seeded = seed(fleet_dir, COMPONENTS)
    seed(empty_dir, 0)
    fleet, empty = Dev(fleet_dir), Dev(empty_dir)
    try:
        _wait_listening([fleet, empty])
        time.sleep(WARMUP_SECONDS)
        cpu0 = {d: d.cpu() for d in (fleet, empty)}
        t0 = time.perf_counter()
        rss: dict[Dev, list[float]] = {fleet: [fleet.rss_mb()], empty: [empty.rss_mb()]}
        while time.perf_counter() - t0 < IDLE_SECONDS:
            time.sleep(min(SAMPLE_SECONDS, IDLE_SECONDS - (time.perf_counter() - t0)) or 0.01)
            for d in (fleet, empty):
                assert d.proc.poll() is None
                rss[d].append(d.rss_mb())
        window = time.perf_counter() - t0
        share = {d: (d.cpu() - cpu0[d]) / window * 100 for d in (fleet, empty)}
        with httpx.Client(base_url=f"http://127.0.0.1:{fleet.port}") as c:
            got = c.get("/v1/components/svc-09999", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert got.status_code == (200 if COMPONENTS == 10000 else got.status_code)
    finally:
        fleet.stop()
        empty.stop()

    def series(values: list[float]) -> str:
        return " ".join(f"{v:.0f}" for v in values)

    def drift(values: list[float]) -> float:
        return values[-1] - values[0]

    assert fleet.listening is not None and empty.listening is not None
    report(
        f"pilothouse dev, {COMPONENTS} components vs 0 (anchor), idle {window:.0f} s",
        {
            "seeded in": f"{seeded:.1f} s",
            "spawn → listening": f"{fleet.listening:.2f} s vs {empty.listening:.2f} s "
            f"(ratio {fleet.listening / empty.listening:.2f})",
            "idle CPU, % of a core": f"{share[fleet]:.2f} vs {share[empty]:.2f} "
            f"(ratio {share[fleet] / max(share[empty], 1e-9):.2f})",
            f"RSS MB every {SAMPLE_SECONDS:.0f} s": series(rss[fleet]),
            "RSS MB, anchor": series(rss[empty]),
            "RSS drift": f"{drift(rss[fleet]):+.1f} MB vs {drift(rss[empty]):+.1f} MB",
        },
    )


@pytest.fixture
def fleet_services(env):
    from pilothouse.settings import get_settings
    from pilothouse.wiring import Services

    return Services(get_settings())


def test_stalled_job_sweep_cost(env, fleet_services, tmp_path):
    """Given 10,000 components (20 in flight) and an empty store, when the minute's sweep runs,
    then its cost is printed per run and per component, against the empty store's."""
    from pilothouse.services.maintenance import sweep
    from pilothouse.settings import Settings
    from pilothouse.wiring import Services

    seed(fleet_services.settings.data_dir, COMPONENTS)
    empty = Services(Settings(data_dir=tmp_path / "empty-sweep"))
    timings = {}
    for label, services in (("fleet", fleet_services), ("empty", empty)):
        sweep(services)  # the first run builds the in-flight index once (a backfill)
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            assert sweep(services)["requeued"] == []
            best = min(best, time.perf_counter() - started)
        timings[label] = best
    report(
        f"the minute's sweep, {COMPONENTS} components vs 0 (anchor), best of 5",
        {
            "sweep": f"{timings['fleet'] * 1000:.2f} ms vs {timings['empty'] * 1000:.2f} ms "
            f"(ratio {timings['fleet'] / timings['empty']:.1f})",
            "per component": f"{timings['fleet'] / COMPONENTS * 1e6:.3f} µs",
        },
    )


def test_start_to_listening_in_process(env, tmp_path, monkeypatch):
    """Given 10,000 components and, as the anchor, 0, when a DevServer starts in this process (best
    of 5 starts each), then the time until its gateway listens is printed with the ratio: what the
    start does before listening must not grow with the number of components."""
    from pilothouse.embedded.dev import DevServer

    for name, value in (("PILOTHOUSE_ADMIN_KEY", ADMIN_KEY), ("PILOTHOUSE_PROJECT_DIR", str(ROOT))):
        monkeypatch.setenv(name, value)
    dirs = {n: tmp_path / f"start-{n}" for n in (COMPONENTS, 0)}
    for n, data_dir in dirs.items():
        seed(data_dir, n)
    best = dict.fromkeys(dirs, float("inf"))
    for _ in range(5):
        for n, data_dir in dirs.items():
            server = DevServer("127.0.0.1", 0, data_dir, ROOT)
            started = time.perf_counter()
            server.start(wait_restored=False)
            best[n] = min(best[n], time.perf_counter() - started)
            assert server.wait_recovered(120)
            server.stop()
    report(
        f"DevServer.start → listening, {COMPONENTS} components vs 0 (anchor), best of 5",
        {
            "listening": f"{best[COMPONENTS] * 1000:.0f} ms vs {best[0] * 1000:.0f} ms "
            f"(ratio {best[COMPONENTS] / best[0]:.2f})"
        },
    )
