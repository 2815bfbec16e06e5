"""Scripts that load one HTTP function as each cloud loads it, in a fresh interpreter, and report
what got imported and how long the load took (tests/infrastructure/test_cloud_imports.py asserts
the module sets; tests/benchmarks/test_bench_cloud_imports.py times them)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PRELUDE = "import importlib.util, json, sys, time\nt0 = time.perf_counter()\n"
_LOAD = (
    "def load(path, name):\n"
    "    s = importlib.util.spec_from_file_location(name, path)\n"
    "    m = importlib.util.module_from_spec(s); s.loader.exec_module(m); return m\n"
)
_REPORT = "print(json.dumps({'seconds': t1 - t0, 'modules': sorted(sys.modules)}))\n"

#: each cloud's cold load of get_component: the host's module, then the function's own module (and,
#: with ``call``, one unauthenticated request through the cloud's request objects)
SCRIPTS = {
    "anchor": _PRELUDE + "import aws_lambda_powertools.event_handler\nt1 = time.perf_counter()\n",
    "aws": _PRELUDE
    + _LOAD
    + "m = load('functions/get_component/app.py', 'get_component_app')\nt1 = time.perf_counter()\n"
    + "CALL\n",
    "azure": _PRELUDE
    + _LOAD
    + "fa = load('infra/azure/function_app.py', 'function_app')\n"
    + "(fn,) = [f for f in fa.app.get_functions() if f.get_function_name() == 'get_component']\n"
    + "run = fn.get_user_function()\n"
    + "with run.pool.instance(): pass\nt1 = time.perf_counter()\n"
    + "CALL\n",
    "gcp": _PRELUDE
    + _LOAD
    + "main = load('infra/gcp/main.py', 'main')\n"
    + "run = main.get_component\n"
    + "with run.pool.instance(): pass\nt1 = time.perf_counter()\n"
    + "CALL\n",
}

CALLS = {
    "anchor": "",
    "aws": (
        "from pilothouse.runtime.events import http_event\n"
        "r = m.handler(http_event('GET', '/v1/components/x', path_parameters={'name': 'x'}), None)\n"
        "assert r['statusCode'] == 401, r\n"
    ),
    "azure": (
        "import azure.functions as func\n"
        "r = run(func.HttpRequest(method='GET', url='http://h/v1/components/x', headers={}, "
        "route_params={'name': 'x'}, body=b''))\n"
        "assert r.status_code == 401, r.get_body()\n"
    ),
    "gcp": (
        "import flask\n"
        "with flask.Flask('t').test_request_context('/v1/components/x'):\n"
        "    r = run(flask.request)\n"
        "assert r.status_code == 401, r.data\n"
    ),
}


def load(cloud: str, *, call: bool, env: dict[str, str] | None = None) -> dict:
    """Run the cloud's script in a fresh interpreter: ``{"seconds": load time, "modules": [...]}``."""
    script = SCRIPTS[cloud].replace("CALL\n", CALLS[cloud] if call else "") + _REPORT
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    if out.returncode != 0:
        raise AssertionError(f"{cloud} load failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


@functools.cache
def baseline() -> frozenset[str]:
    """What a bare interpreter of this venv has loaded before any import (site's .pth files make
    namespace packages such as ``google`` and ``google.cloud`` at start-up: they load no SDK)."""
    out = subprocess.run(
        [sys.executable, "-c", "import json, sys; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return frozenset(json.loads(out.stdout.strip().splitlines()[-1]))


def top_level(modules: list[str]) -> set[str]:
    """The top-level packages of ``modules`` that were imported (not there at start-up)."""
    return {m.split(".")[0] for m in modules if m not in baseline()}
