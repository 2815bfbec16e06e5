"""Every function in functions/ is declared in template.yaml, has a sample event, imports, answers."""

import json

import pytest

from tests.support.controlplane import ROOT

FUNCTIONS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))


def test_template_declares_every_function_and_nothing_else(cloud):
    declared = sorted(f.code_dir.name for f in cloud.functions.values())
    assert declared == FUNCTIONS


def test_every_function_has_a_sample_event():
    samples = sorted(p.stem for p in (ROOT / "events").glob("*.json"))
    assert samples == FUNCTIONS


@pytest.mark.parametrize("name", FUNCTIONS)
def test_sample_event_invokes_the_function(name, cloud, pool, admin_key):
    """Given the function's sample event, when invoked as Lambda would, then it answers without a 5xx."""
    logical = next(n for n, f in cloud.functions.items() if f.code_dir.name == name)
    event = json.loads((ROOT / "events" / f"{name}.json").read_text())
    if not {"requestContext", "Records", "detail-type"} & set(
        event
    ):  # a workflow task's payload: the sample's
        # capability token is no deployment's (none exists here), which the task must say clearly
        from pilothouse.services.deployment_tasks import CapabilityRefused

        with pytest.raises(CapabilityRefused, match="capability token"):
            pool.invoke(logical, event)
        return
    result = pool.invoke(logical, event)
    if "statusCode" in (result or {}):
        assert result["statusCode"] < 500, result
    elif name in ("run_job", "run_execution", "run_task", "run_task_message"):
        assert result == {"batchItemFailures": []}


def test_openapi_covers_every_route(api, cloud):
    status, _, doc = api.get("/v1/openapi.json", key=None)
    assert status == 200 and doc["openapi"].startswith("3.1")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    routed = {(r.method, r.path) for r in cloud.routes if r.path.startswith("/v1/")}  # not the dashboard
    assert documented == routed
    assert set(doc["components"]["securitySchemes"]) == {"ApiKey", "Bearer"}


def test_unknown_route_and_method(api):
    status, headers, body = api.get("/v2/nothing")
    assert status == 404 and headers["content-type"] == "application/problem+json"
    status, headers, body = api.call("PATCH", "/v1/components")
    assert status == 405 and "GET" in headers["allow"]
