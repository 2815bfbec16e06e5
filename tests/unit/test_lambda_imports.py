"""What a Lambda function loads: psutil (process management of the local provider) never is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
