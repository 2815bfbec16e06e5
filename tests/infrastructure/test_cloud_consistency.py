"""One suite, five descriptions: functions/, template.yaml, serverless.yml,
infra/azure/function_app.py and infra/gcp/main.py name every operation, with the same routes and
the same schedules (each cloud's spelling of them)."""

from __future__ import annotations

import importlib.util
import re

import pytest

from pilothouse.catalogue import FUNCTIONS
from pilothouse.runtime.schedules import ncrontab, unix_cron

from ._clouds import _sam_functions, _sam_triggers, _sls, _sls_triggers
from ._tools import ROOT

pytest.importorskip("azure.functions")
pytest.importorskip("functions_framework")


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _azure() -> dict[str, tuple]:
    from ._clouds import indexed

    return indexed(_load(ROOT / "infra/azure/function_app.py", "consistency_function_app").app)


def _gcp():
    return _load(ROOT / "infra/gcp/main.py", "consistency_gcp_main")


def test_every_operation_is_everywhere():
    """Given the catalogue's functions, Then each has functions/<name>/app.py, a function in
    template.yaml and serverless.yml, and on Azure and Google Cloud a trigger or entry point, or
    (workflow tasks, the Step Functions event rule) the stated reason it has none."""
    names = {fn.name for fn in FUNCTIONS}
    folders = {p.parent.name for p in (ROOT / "functions").glob("*/app.py")}
    assert names == folders
    assert set(_sam_functions()) == names
    assert set(_sls()["functions"]) == names

    azure_app = _load(ROOT / "infra/azure/function_app.py", "consistency_function_app_reasons")
    azure = _azure()
    gcp = _gcp()
    kinds = {fn.name: type(fn.trigger).__name__ for fn in FUNCTIONS}
    for name in names:
        if kinds[name] in ("Task", "OnEvent"):
            kind = "task" if kinds[name] == "Task" else "aws-event"
            assert name not in azure and kind in azure_app.UNTRIGGERED, name
            assert name not in gcp.ENTRY_POINTS and kind in gcp.NOT_ENTRY_POINTS, name
        else:
            assert name in azure, f"{name} has no Azure function"
            assert name in gcp.ENTRY_POINTS, f"{name} has no Google Cloud entry point"


def test_same_routes_everywhere():
    """template.yaml's HttpApi routes = serverless.yml's = Azure's HTTP triggers = Google Cloud's
    HTTP entry points (method, path)."""
    sam = {(t[0], t[2], t[3]) for t in _sam_triggers() if t[1] == "http"}
    sls = {(t[0], t[2], t[3]) for t in _sls_triggers() if t[1] == "http"}
    # one route per Azure function: the extra routes are <name>_route<n>, a greedy {x+} is {*x}
    azure = {
        (re.sub(r"_route\d+$", "", name), t[1], re.sub(r"\{\*(\w+)\}", r"{\1+}", t[2]))
        for name, t in _azure().items()
        if t[0] == "http"
    }
    gcp = {
        (name, e.method, r) for name, e in _gcp().ENTRY_POINTS.items() if e.kind == "http" for r in e.routes
    }
    assert sam == sls == azure == gcp
    assert len(sam) > 100


def test_same_schedules_everywhere():
    """template.yaml's schedules = serverless.yml's; Azure's timers and Google Cloud's scheduler
    jobs (operations.tf) fire at the same times, in NCRONTAB and unix cron."""
    sam = {(t[0], t[2]) for t in _sam_triggers() if t[1] == "schedule"}
    sls = {(t[0], t[2]) for t in _sls_triggers() if t[1] == "schedule"}
    assert sam == sls and sam
    azure = {(name, t[1]) for name, t in _azure().items() if t[0] == "schedule"}
    assert azure == {(name, ncrontab(expr)) for name, expr in sam}
    gcp = {(name, e.unix_cron) for name, e in _gcp().ENTRY_POINTS.items() if e.kind == "schedule"}
    assert gcp == {(name, unix_cron(expr)) for name, expr in sam}
    from ._clouds import _locals

    tf = {(name, v["schedule"]) for name, v in _locals()["schedule_functions"].items()}
    assert tf == gcp


def test_same_queues_everywhere():
    """Each queue consumer of template.yaml consumes on Azure and Google Cloud too, from the queue
    the same setting names."""
    sam = {t[0] for t in _sam_triggers() if t[1] == "sqs"}
    azure = {name for name, t in _azure().items() if t[0] == "queue"}
    gcp = {name for name, e in _gcp().ENTRY_POINTS.items() if e.kind == "queue"}
    assert sam == azure == gcp and sam
