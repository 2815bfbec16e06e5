"""Deployments driven through the API in process (the integration tests' ``api`` and ``run``)."""

from __future__ import annotations

import pytest


def spec(name="web", **over):
    s = {
        "name": name,
        "provider": "local",
        "environment": "development",
        "version": "1.0.0",
        "target": {"command": ["{python}", "app.py", "--port", "{port}"]},
        "scaling": {"min": 1, "max": 5},
    }
    s.update(over)
    return s


def comp(api, name="web"):
    return api.get(f"/v1/components/{name}")[2]


def deployment(api, name="web"):
    items = api.get("/v1/deployments", query=f"component={name}")[2]["items"]
    return items[0]


def running(api, run, name="web", **over):
    assert api.post("/v1/components", spec(name, **over))[0] == 201
    assert api.post(f"/v1/components/{name}/deploy")[0] == 202
    run()
    c = comp(api, name)
    assert c["state"] == "Running", (c, deployment(api, name))
    return c


def update(api, body, name="web"):
    status, _, out = api.post(f"/v1/components/{name}/update", body)
    assert status == 202, out
    return out


GOOD_ANALYSIS = {"measurements": 2, "interval_seconds": 10, "window_seconds": 30, "max_error_rate": 0.05}


# -- fixtures: a module imports them by name (``from tests.support.deploying import provider, run,
# services``) to run deployments on a manual clock with the fake revision provider ----------------


@pytest.fixture
def services(env, clock, request):
    """Services on a manual clock; a test that asks for ``provider`` gets it as the local provider."""
    from pilothouse.settings import get_settings
    from pilothouse.wiring import Services, register_services

    providers = {"local": request.getfixturevalue("provider")} if "provider" in request.fixturenames else {}
    s = Services(get_settings(), clock, providers=providers)
    register_services(s)
    return s


@pytest.fixture
def provider():
    from tests.support.fakes import RevisionFake

    return RevisionFake()


@pytest.fixture
def run(services, pool, cloud):
    from tests.support.controlplane import drain

    return lambda: drain(services, pool, cloud)
