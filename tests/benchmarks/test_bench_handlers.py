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

from pilothouse.embedded.gateway import GatewayServer, LocalGateway
from pilothouse.runtime.events import http_event
from tests.support.bench import report
from tests.support.controlplane import ROOT
from tests.support.specs import spec

N = int(os.environ.get("BENCH_N", "300"))


def pct(samples: list[float], p: float) -> str:
    s = sorted(samples)
    return f"{s[min(len(s) - 1, int(len(s) * p))] * 1000:.2f} ms"


def test_handler_latency(pool, cloud, admin_key):
    """p50/p99 of get, list and register invoked in-process with API Gateway events (SQLite store)."""
    auth = {"authorization": f"Bearer {admin_key}", "content-type": "application/json"}
    for i in range(50):
        pool.invoke(
            "RegisterComponentFunction",
            http_event("POST", "/v1/components", headers=auth, body=json.dumps(spec(f"seed{i:03d}"))),
        )
    cases = {
        "get": (
            "GetComponentFunction",
            lambda i: http_event(
                "GET", "/v1/components/seed001", headers=auth, path_parameters={"name": "seed001"}
            ),
        ),
        "list (50 items)": (
            "ListComponentsFunction",
            lambda i: http_event("GET", "/v1/components", headers=auth, query="limit=50"),
        ),
        "register": (
            "RegisterComponentFunction",
            lambda i: http_event(
                "POST", "/v1/components", headers=auth, body=json.dumps(spec(f"bench{i:05d}"))
            ),
        ),
    }
    rows = {}
    for label, (fn, make) in cases.items():
        pool.invoke(fn, make(-1))  # warm
        samples = []
        for i in range(N):
            ev = make(i)
            t = time.perf_counter()
            result = pool.invoke(fn, ev)
            samples.append(time.perf_counter() - t)
            assert result["statusCode"] in (200, 201), result
        rows[label] = f"p50 {pct(samples, 0.5)}   p99 {pct(samples, 0.99)}   ({N} calls)"
    report("in-process handler latency (SQLite, WAL)", rows)


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
