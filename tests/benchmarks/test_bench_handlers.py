"""In-process handler latency (get, list, register), cold imports, gateway throughput."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest

from pilothouse.embedded.functions import FunctionPool
from pilothouse.embedded.gateway import GatewayServer, LocalGateway
from pilothouse.runtime.events import http_event
from tests.support.bench import GENEROUS_LIMITS, handler_latency, ratio_rows, report
from tests.support.coldstart import cold_report, http_cases, production
from tests.support.controlplane import ROOT
from tests.support.specs import spec

N = int(os.environ.get("BENCH_N", "300"))


def test_handler_latency(pool, cloud, admin_key, monkeypatch):
    """p50/p99 of get, list and register against the bare Powertools hello route (same run), on the
    SQLite store as production runs it (its own transaction scope, which the suite narrows to one
    partition), with response validation off (production default) and on (the test suite's
    setting), and with the rate limiter on (production default; the suite turns it off)."""
    monkeypatch.delenv("PILOTHOUSE_STORE_TRANSACTION_SCOPE", raising=False)
    for validation, limits in (("false", None), ("true", None), ("false", GENEROUS_LIMITS)):
        monkeypatch.setenv("PILOTHOUSE_RESPONSE_VALIDATION", validation)
        if limits:
            monkeypatch.setenv("PILOTHOUSE_RATE_LIMITS", limits)
        samples, cpu = handler_latency(pool, admin_key, prefix=f"v{validation}{'l' if limits else ''}")
        report(
            f"in-process handler latency (SQLite, WAL), response validation {validation}, rate limiter "
            f"{'on' if limits else 'off'}, {N} interleaved calls each",
            ratio_rows(samples, "anchor: bare Powertools hello", cpu),
        )


def _import_time(code: str, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", f"import time;t=time.perf_counter();{code};print(time.perf_counter()-t)"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        )
        best = min(best, float(out.stdout.strip().splitlines()[-1]))
    return best


@pytest.mark.slow
def test_cold_import_times(cloud):
    """Import time of each function module (best of BENCH_RUNS fresh interpreters) against the bare
    Powertools event handler import, which every HTTP function needs anyway."""
    runs = int(os.environ.get("BENCH_RUNS", "1"))
    base = _import_time("import aws_lambda_powertools.event_handler", runs=max(3, runs))
    rows = {"aws_lambda_powertools.event_handler": f"{base * 1000:.0f} ms"}
    for _name, fn in sorted(cloud.functions.items()):
        path = fn.code_dir / "app.py"
        code = (
            f"import importlib.util as u;s=u.spec_from_file_location('m',{str(path)!r});"
            "m=u.module_from_spec(s);s.loader.exec_module(m)"
        )
        t = _import_time(code, runs=runs)
        rows[fn.code_dir.name] = f"{t * 1000:.0f} ms  (+{(t - base) * 1000:.0f} ms)"
    report("cold import time", rows)


@pytest.mark.slow
def test_cold_start_http_function(cloud, admin_key, env, tmp_path):
    """Import + first call of get_component and register_component in a fresh interpreter (SQLite)
    against bare Powertools import + hello, best of BENCH_RUNS (default 7), interleaved."""
    runs = int(os.environ.get("BENCH_RUNS", "7"))
    auth = {"authorization": f"Bearer {admin_key}", "content-type": "application/json"}
    FunctionPool(cloud.functions).invoke(
        "RegisterComponentFunction",
        http_event("POST", "/v1/components", headers=auth, body=json.dumps(spec("seed"))),
    )
    get_ev = http_event("GET", "/v1/components/seed", headers=auth, path_parameters={"name": "seed"})
    anchor = "anchor: bare Powertools import + hello"
    cold_report(
        "cold start, import + first call (SQLite)",
        lambda root: http_cases(root, cloud, auth, get_ev, anchor=(["hello"], 200)),
        anchor,
        production(dict(os.environ)),
        tmp_path,
        runs,
    )


@pytest.mark.slow
def test_gateway_throughput(pool, cloud, admin_key):
    """Requests per second through the local gateway over real HTTP (8 keep-alive clients, 3 s)."""
    server = GatewayServer(LocalGateway(cloud.routes, pool), "127.0.0.1", 0)
    server.start()
    try:
        rows = {}
        for label, path, headers in [
            ("GET /v1/health", "/v1/health", {}),
            (
                "GET /v1/components (auth)",
                "/v1/components?limit=10",
                {"Authorization": f"Bearer {admin_key}"},
            ),
        ]:
            count = [0]
            errors = [0]
            stop = time.monotonic() + 3.0
            lock = threading.Lock()

            def client(headers=headers, path=path, stop=stop, lock=lock, count=count, errors=errors):
                with httpx.Client(base_url=server.url, headers=headers) as c:
                    while time.monotonic() < stop:
                        r = c.get(path)
                        with lock:
                            count[0] += 1
                            errors[0] += r.status_code != 200

            threads = [threading.Thread(target=client) for _ in range(8)]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            rows[label] = f"{count[0] / (time.monotonic() - t0):.0f} req/s  ({errors[0]} errors)"
            assert errors[0] == 0
        report("local gateway throughput", rows)
    finally:
        server.stop()
