"""CLI start-up: ``pilothouse --help`` and ``pilothouse components list`` (against a loopback stub of
the API), each as a fresh process, beside the anchor ``python -c pass`` in the same run.

Run: .venv/bin/python -m pytest tests/benchmarks/test_bench_cli.py -m benchmark -s
The figures are medians of ROUNDS runs; the ratios to the anchor are what compare across machines.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.bench import report

ROUNDS = 15
CLI = str(Path(sys.executable).with_name("pilothouse"))
PAGE = {
    "items": [
        {
            "name": f"c{i}",
            "state": "Running",
            "environment": "development",
            "provider": "local",
            "version": "1.0.0",
            "replicas": 1,
            "url": None,
            "created_at": "2026-01-01T00:00:00Z",
        }
        for i in range(20)
    ],
    "next_cursor": None,
}


class _Api(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = json.dumps(PAGE).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _median(argv: list[str], env: dict[str, str]) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        times.append(time.perf_counter() - started)
        assert done.returncode == 0, done.stderr.decode()
    return statistics.median(times)


def test_cli_start_up(stub_api, tmp_path):
    env = {
        **os.environ,
        "PILOTHOUSE_URL": stub_api,
        "PILOTHOUSE_API_KEY": "ph_000000000000_benchmark-key-000",
        "XDG_CONFIG_HOME": str(tmp_path),
        "COLUMNS": "120",
    }
    anchor = _median([sys.executable, "-c", "pass"], env)
    help_ = _median([CLI, "--help"], env)
    listing = _median([CLI, "components", "list"], env)
    report(
        f"CLI start-up (median of {ROUNDS} fresh processes)",
        {
            "anchor: python -c pass": f"{anchor * 1000:.0f} ms",
            "pilothouse --help": f"{help_ * 1000:.0f} ms  ({help_ / anchor:.1f}x anchor)",
            "pilothouse components list": f"{listing * 1000:.0f} ms  ({listing / anchor:.1f}x anchor)",
        },
    )
