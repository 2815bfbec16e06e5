"""Cold starts of functions in fresh interpreters, beside an anchor run in the same way (the
benchmarks of tests/benchmarks use them; figures are printed, never asserted)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support.bench import report
from tests.support.controlplane import ROOT
from tests.support.specs import spec

from pilothouse.runtime.events import http_event

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


#: what the test suite sets for itself (tests/conftest.py) and a deployment leaves unset: response
#: validation (off in production), the one-partition transaction scope (SQLite's own scope in
#: production) and the rate limiter's switch (on in production: a request reads and writes its bucket)
SUITE_ONLY = (
    "PILOTHOUSE_RESPONSE_VALIDATION",
    "PILOTHOUSE_STORE_TRANSACTION_SCOPE",
    "PILOTHOUSE_RATE_LIMITS",
)


def production(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the production defaults of what the suite sets for itself (:data:`SUITE_ONLY`)."""
    return {k: v for k, v in env.items() if k not in SUITE_ONLY}


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
            [
                sys.executable,
                "-m",
                "compileall",
                "-q",
                "--invalidation-mode",
                "unchecked-hash",
                str(dest / "shared"),
                str(dest / "functions"),
            ],
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
