"""``component://<name>/<path>`` leads to the component of the execution's environment: ``<name>``
where it lives there, else its twin ``<name>-<environment>``; a clear failure when the environment
has neither (issue 14 §2). Servers on 127.0.0.1 only."""

from __future__ import annotations

import pytest

from pilothouse.settings import get_settings
from pilothouse.wiring import Services, register_services
from tests.support.controlplane import drain
from tests.support.executions import describe, wf
from tests.support.http_tasks import Scripted, running_component

CALL = {
    "StartAt": "Call",
    "States": {
        "Call": {
            "Type": "Task",
            "Resource": "arn:aws:states:::http:invoke",
            "Parameters": {"ApiEndpoint": "component://parser/parse", "Method": "GET"},
            "End": True,
        }
    },
}


@pytest.fixture
def services(env, clock):
    s = Services(get_settings(), clock)
    register_services(s)
    return s


@pytest.fixture
def run(services, pool, cloud):
    return lambda: drain(services, pool, cloud)


@pytest.fixture
def twins(services):
    """``parser`` in development and ``parser-production`` in production, each its own server."""
    dev, prod = Scripted([(200, {"env": "development"})]), Scripted([(200, {"env": "production"})])
    running_component(services, "parser", dev.url)
    running_component(services, "parser-production", prod.url, environment="production")
    yield dev, prod
    dev.close()
    prod.close()


def _start(api, name, environment=None, expect=201):
    body: dict = {"name": name, "input": {}}
    if environment:
        body["environment"] = environment
    status, _, out = api.post("/v1/workflows/calls/executions", body)
    assert status == expect, out
    return out


def test_each_execution_reaches_the_component_of_its_environment(api, run, twins):
    dev, prod = twins
    wf(api, "calls", CALL)
    _start(api, "to-prod", "production")
    _start(api, "to-dev", "development")
    _start(api, "where-it-lives")
    run()
    answers = {
        n: describe(api, "calls", n)["output"]["ResponseBody"]["env"]
        for n in ("to-prod", "to-dev", "where-it-lives")
    }
    assert answers == {"to-prod": "production", "to-dev": "development", "where-it-lives": "development"}
    assert (len(dev.seen), len(prod.seen)) == (2, 1)


def test_an_environment_without_the_component_fails_clearly(api, run, twins):
    """Given no ``parser`` in staging, Then the task fails with States.Http.Socket naming the
    environment and the twin it looked for, and neither server is called."""
    dev, prod = twins
    wf(api, "calls", CALL)
    _start(api, "to-staging", "staging")
    run()
    done = describe(api, "calls", "to-staging")
    assert (done["status"], done["error"]) == ("FAILED", "States.Http.Socket"), done
    assert "staging" in done["cause"] and "parser-staging" in done["cause"]
    assert dev.seen == [] and prod.seen == []


def test_a_twin_name_in_another_environment_is_not_taken(api, run, services):
    """Given ``parser`` in development and a component named ``parser-production`` that lives in
    staging, Then a production execution does not call it (a name alone proves nothing)."""
    impostor = Scripted([(200, {"env": "staging"})])
    try:
        running_component(services, "parser", "http://127.0.0.1:9")
        running_component(services, "parser-production", impostor.url, environment="staging")
        wf(api, "calls", CALL)
        _start(api, "p", "production")
        run()
        done = describe(api, "calls", "p")
    finally:
        impostor.close()
    assert done["error"] == "States.Http.Socket" and impostor.seen == []


def test_an_execution_keeps_its_environment_and_bad_ones_are_refused(api, twins):
    wf(api, "calls", CALL)
    _start(api, "once", "production")
    problem = _start(api, "once", "development", expect=409)
    assert problem["field"] == "environment"
    problem = _start(api, "bad", "moon", expect=422)
    assert "environment" in str(problem)
