"""Idle CPU of ``pilothouse dev`` with nothing to do: what the queue worker's pollers, the scheduler
and the gateway cost while waiting (issue 9: pollers wake on work, not on a 50 ms tick).

    .venv/bin/python -m pytest tests/benchmarks/test_bench_idle_pollers.py -m benchmark -s

Starts the dev server as a subprocess on a free loopback port and a fresh data dir, lets it settle,
then reads its CPU time (psutil) across ``BENCH_IDLE_SECONDS`` (30 by default) of idleness.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from pilothouse.providers.local.process import free_port, port_open
from tests.support.bench import report

ROOT = Path(__file__).resolve().parents[2]
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "30"))
SETTLE_SECONDS = 3.0


def test_idle_dev_server_cpu(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PILOTHOUSE_", "PYTEST_"))}
    env["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    env["PILOTHOUSE_ADMIN_KEY"] = "ph_bench_" + "0" * 32
    argv = [sys.executable, "-m", "pilothouse.cli.main", "dev", "--port", str(port)]
    argv += ["--data-dir", str(tmp_path / "data"), "--project-dir", str(ROOT)]
    with open(tmp_path / "dev.log", "wb") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not port_open("127.0.0.1", port, timeout=0.2):
            assert proc.poll() is None, (tmp_path / "dev.log").read_text()
            assert time.monotonic() < deadline, "pilothouse dev did not start"
            time.sleep(0.1)
        time.sleep(SETTLE_SECONDS)  # the background restore, then the worker and scheduler start
        dev = psutil.Process(proc.pid)
        before = dev.cpu_times()
        started = time.monotonic()
        time.sleep(IDLE_SECONDS)
        after = dev.cpu_times()
        elapsed = time.monotonic() - started
        threads = dev.num_threads()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    used = (after.user - before.user) + (after.system - before.system)
    report(
        f"idle `pilothouse dev` (no components), {elapsed:.0f} s",
        {
            "CPU, % of one core": f"{100 * used / elapsed:.2f} %",
            "CPU seconds (user + system)": f"{used:.3f} s",
            "threads": str(threads),
        },
    )
