"""In-process handler latency (get, list, register), cold imports, gateway throughput."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from pilothouse.embedded.functions import FunctionPool
from pilothouse.embedded.gateway import GatewayServer, LocalGateway
from pilothouse.runtime.events import http_event
from tests.support.bench import report
from tests.support.controlplane import ROOT
from tests.support.specs import spec

N = int(os.environ.get("BENCH_N", "300"))


def quantile(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * p))]


def bare_hello():
    """The anchor: a bare Powertools HTTP API resolver with one hello route, as a handler."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    app = APIGatewayHttpResolver()

    @app.get("/hello")
    def hello() -> dict:
        return {"message": "hello"}

    return app.resolve, http_event("GET", "/hello")


def ratio_rows(samples: dict[str, list[float]], anchor: str, cpu: dict[str, list[float]]) -> dict[str, str]:
    """p50/p99 of each case (wall, and the CPU time of the calling thread, steadier on a busy
    machine) and their ratios to the anchor's (same run, interleaved samples)."""
    rows = {}
    for label in samples:
        figures = []
        for kind, table in (("wall", samples), ("cpu", cpu)):
            p50, p99 = quantile(table[label], 0.5), quantile(table[label], 0.99)
            figure = f"{kind} p50 {p50 * 1000:.3f} ms p99 {p99 * 1000:.3f} ms"
            if label != anchor:
                a50, a99 = quantile(table[anchor], 0.5), quantile(table[anchor], 0.99)
                figure += f" ({p50 / a50:.1f}x, p99 {p99 / a99:.1f}x)"
            figures.append(figure)
        rows[label] = "   ".join(figures)
    return rows


def handler_latency(
    pool, admin_key: str, prefix: str = "bench"
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Interleaved samples of the anchor, get, list and register, invoked in-process with API
    Gateway events on the SQLite store (each handler called directly: no pool bookkeeping)."""
    from pilothouse.embedded.functions import LambdaContext, load_module

    auth = {"authorization": f"Bearer {admin_key}", "content-type": "application/json"}
    for i in range(50):
        pool.invoke(
            "RegisterComponentFunction",
            http_event("POST", "/v1/components", headers=auth, body=json.dumps(spec(f"seed{i:03d}"))),
        )
    anchor, hello = bare_hello()
    cases = {
        "anchor: bare Powertools hello": (anchor, lambda i: hello),
        "get": (
            load_module(pool.functions["GetComponentFunction"]),
            lambda i: http_event(
                "GET", "/v1/components/seed001", headers=auth, path_parameters={"name": "seed001"}
            ),
        ),
        "list (50 items)": (
            load_module(pool.functions["ListComponentsFunction"]),
            lambda i: http_event("GET", "/v1/components", headers=auth, query="limit=50"),
        ),
        "register": (
            load_module(pool.functions["RegisterComponentFunction"]),
            lambda i: http_event(
                "POST", "/v1/components", headers=auth, body=json.dumps(spec(f"{prefix}{i:05d}"))
            ),
        ),
    }
    samples: dict[str, list[float]] = {label: [] for label in cases}
    cpu: dict[str, list[float]] = {label: [] for label in cases}
    for label, (fn, make) in cases.items():  # warm
        for _ in range(5):
            fn(make(-1), LambdaContext(label, 30))
    for i in range(N):
        for label, (fn, make) in cases.items():
            ev, ctx = make(i), LambdaContext(label, 30)
            t, c = time.perf_counter(), time.thread_time()
            result = fn(ev, ctx)
            cpu[label].append(time.thread_time() - c)
            samples[label].append(time.perf_counter() - t)
            assert result["statusCode"] in (200, 201), result
    return samples, cpu


def test_handler_latency(pool, cloud, admin_key, monkeypatch):
    """p50/p99 of get, list and register against the bare Powertools hello route (same run), with
    response validation off (production default) and on (the test suite's setting)."""
    for validation in ("false", "true"):
        monkeypatch.setenv("PILOTHOUSE_RESPONSE_VALIDATION", validation)
        samples, cpu = handler_latency(pool, admin_key, prefix=f"v{validation}")
        report(
            f"in-process handler latency (SQLite, WAL), response validation {validation}, "
            f"{N} interleaved calls each",
            ratio_rows(samples, "anchor: bare Powertools hello", cpu),
        )


#: one cold start in a fresh interpreter: import + first call, in seconds, printed as JSON.
#: argv: "function" <app.py> <event JSON> | "hello" | "hello+getitem" <table> <key JSON>
COLD = """
import json, sys, time


class Context:
    function_name = "fn"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:fn"
    aws_request_id = "cold"

    def get_remaining_time_in_millis(self):
        return 30000


c0, t0 = time.process_time(), time.perf_counter()
if sys.argv[1] == "function":
    import importlib.util as u

    s = u.spec_from_file_location("fn", sys.argv[2])
    m = u.module_from_spec(s)
    s.loader.exec_module(m)
    handler, event = m.handler, json.loads(sys.argv[3])
else:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    app = APIGatewayHttpResolver()
    if sys.argv[1] == "hello+getitem":
        import boto3

    @app.get("/hello")
    def hello():
        if sys.argv[1] == "hello":
            return {"message": "hello"}
        client = boto3.client("dynamodb")
        return client.get_item(TableName=sys.argv[2], Key=json.loads(sys.argv[3])).get("Item", {})

    handler = app.resolve
    event = {
        "version": "2.0", "routeKey": "GET /hello", "rawPath": "/hello", "rawQueryString": "",
        "headers": {}, "isBase64Encoded": False,
        "requestContext": {"http": {"method": "GET", "path": "/hello", "sourceIp": "127.0.0.1"},
                           "requestId": "cold", "stage": "$default"},
    }
t1 = time.perf_counter()
r = handler(event, Context())
c2, t2 = time.process_time(), time.perf_counter()
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "cpu": c2 - c0, "status": r.get("statusCode")}))
"""


def production(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the production default of response validation (off; the suite turns it on)."""
    return {k: v for k, v in env.items() if k != "PILOTHOUSE_RESPONSE_VALIDATION"}


def cold_start(args: list[str], env: dict[str, str] | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", COLD, *args], capture_output=True, text=True, cwd=ROOT, env=env, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def cold_rows(
    cases: dict[str, tuple[Callable[[], list[str]], int]], anchor: str, env, runs: int
) -> dict[str, str]:
    """Best of ``runs`` cold starts of each case, interleaved: wall time (import + first call) and
    the CPU time the process spent on them (steadier on a busy machine), each with its ratio to the
    anchor's; each case's first answer must have its expected status."""
    wall: dict[str, dict] = {}
    cpu: dict[str, float] = {}
    for _ in range(runs):
        for label, (args, status) in cases.items():
            fig = cold_start(args(), env)
            assert fig["status"] == status, (label, fig)
            fig["total"] = fig["import"] + fig["first"]
            if label not in wall or fig["total"] < wall[label]["total"]:
                wall[label] = fig
            cpu[label] = min(cpu.get(label, fig["cpu"]), fig["cpu"])
    rows = {}
    for label, fig in wall.items():
        rows[label] = (
            f"wall {fig['total'] * 1000:.0f} ms (import {fig['import'] * 1000:.0f} ms"
            f" + first call {fig['first'] * 1000:.1f} ms), cpu {cpu[label] * 1000:.0f} ms"
        )
        if label != anchor:
            rows[label] += (
                f"   = {fig['total'] / wall[anchor]['total']:.2f}x anchor wall,"
                f" {cpu[label] / cpu[anchor]:.2f}x cpu"
            )
    return rows


def code_copy(dest: Path, *, compiled: bool) -> Path:
    """A copy of Pilothouse's code (shared/pilothouse and functions/) under ``dest``, with bytecode
    compiled ahead or without any: how a cold start runs depends on it. Without, every module of
    Pilothouse is compiled from source at each cold start (as under PYTHONDONTWRITEBYTECODE, or
    from a read-only Lambda layer or package shipped without .pyc files), while the installed
    libraries (the anchor's) load their bytecode."""
    for part in ("shared/pilothouse", "functions"):
        shutil.copytree(ROOT / part, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if compiled:
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(dest / "shared"), str(dest / "functions")],
            check=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""},
        )
    return dest


def cold_report(title: str, cases_for, anchor: str, env: dict[str, str], tmp: Path, runs: int) -> None:
    """Report cold starts (``cases_for(code_root)`` names the cases) from a copy of the code without
    bytecode and from one with it compiled ahead."""
    for compiled, how in ((False, "Pilothouse compiled from source"), (True, "with .pyc compiled ahead")):
        root = code_copy(tmp / ("pyc" if compiled else "src"), compiled=compiled)
        copy_env = {**env, "PYTHONPATH": str(root / "shared")}
        report(f"{title}, {how}, best of {runs}", cold_rows(cases_for(root), anchor, copy_env, runs))


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


def http_cases(root: Path, cloud, auth: dict[str, str], get_ev: dict, *, anchor: tuple[list[str], int]):
    """The anchor, a cold get_component and a cold register_component (a fresh name each run), the
    functions loaded from the code copy at ``root``."""
    names = iter(range(10**6))
    label = (
        "anchor: bare Powertools import + hello"
        if anchor[0] == ["hello"]
        else ("anchor: bare Powertools + boto3 GetItem")
    )

    def app(fn: str) -> str:
        return str(root / "functions" / cloud.functions[fn].code_dir.name / "app.py")

    def register() -> list[str]:  # a fresh name per run (a second register of one name is a 409)
        body = json.dumps(spec(f"cold{root.name}{next(names)}"))
        ev = http_event("POST", "/v1/components", headers=auth, body=body)
        return ["function", app("RegisterComponentFunction"), json.dumps(ev)]

    return {
        label: (lambda: anchor[0], anchor[1]),
        "get_component": (lambda: ["function", app("GetComponentFunction"), json.dumps(get_ev)], 200),
        "register_component": (register, 201),
    }


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
