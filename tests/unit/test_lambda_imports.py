"""What a Lambda function loads: psutil (process management of the local provider) never is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.coldstart import SUITE_ONLY, production

ROOT = Path(__file__).resolve().parents[2]

# loads every functions/<folder>/app.py by path, as Lambda does, then reports what got imported
_LOAD_ALL = """
import importlib.util, json, pathlib, sys
apps = sorted(pathlib.Path("functions").glob("*/app.py"))
for app in apps:
    spec = importlib.util.spec_from_file_location("lambda_app_" + app.parent.name, app)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.handler), app
print(json.dumps({"apps": len(apps), "modules": sorted(sys.modules)}))
"""


def test_no_lambda_function_imports_psutil() -> None:
    """Given every function's app.py
    When all are imported in a fresh interpreter
    Then psutil (and the local provider, which needs it) is not among the loaded modules."""
    out = subprocess.run(
        [sys.executable, "-c", _LOAD_ALL], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    modules = set(loaded["modules"])

    assert loaded["apps"] == len(list((ROOT / "functions").glob("*/app.py"))) > 0
    assert "pilothouse.runtime" in modules  # the functions really were imported
    assert "psutil" not in modules
    assert not {m for m in modules if m.startswith("pilothouse.providers.local")}


# a cold get_component: its app.py loaded by path, one API Gateway event handled, then what loaded
_COLD_GET = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("lambda_app_get", "functions/get_component/app.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
imported = sorted(sys.modules)
answer = module.handler(json.loads(sys.argv[1]), None)
print(json.dumps({"status": answer["statusCode"], "imported": imported, "modules": sorted(sys.modules)}))
"""


def _fixture_environment() -> dict[str, str]:
    """The process's environment with, of Pilothouse's variables, only those the ``env`` fixture
    set: another test's leftovers (a number, say, which only pydantic reads) must not decide what
    this cold start loads."""
    ours = ("PILOTHOUSE_DATA_DIR", "PILOTHOUSE_STORE", "PILOTHOUSE_QUEUE", *SUITE_ONLY)
    return {k: v for k, v in os.environ.items() if not k.startswith("PILOTHOUSE_") or k in ours}


def test_a_cold_get_loads_no_pydantic(pool, admin_key, env) -> None:
    """Given a component on the SQLite store and the production settings (rate limiter on, answers
    not validated)
    When a fresh interpreter imports get_component and serves one authenticated GET
    Then pydantic (a third of a cold start) was never loaded: the settings, the rate limits, the
    key lookup and the read are made without it; nor were the catalogue and uuid."""
    from pilothouse.runtime.events import http_event
    from tests.support.specs import spec

    auth = {"authorization": f"Bearer {admin_key}", "content-type": "application/json"}
    created = pool.invoke(
        "RegisterComponentFunction",
        http_event("POST", "/v1/components", headers=auth, body=json.dumps(spec("cold"))),
    )
    assert created["statusCode"] == 201
    event = http_event("GET", "/v1/components/cold", headers=auth, path_parameters={"name": "cold"})
    out = subprocess.run(
        [sys.executable, "-c", _COLD_GET, json.dumps(event)],
        cwd=ROOT,
        env=production(_fixture_environment()),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])

    assert loaded["status"] == 200
    assert "pilothouse.services.ratelimits" in loaded["modules"]  # the limiter did run
    assert not [m for m in loaded["modules"] if m.split(".")[0] in ("pydantic", "pydantic_core")]
    # nor the operation catalogue (its route comes from the generated table), nor uuid (the
    # gateway's request id is used)
    assert not {"pilothouse.catalogue", "uuid"} & set(loaded["modules"])
