"""A deployment analysis that names alert rules fails its step while one fires (CodeDeploy's
alarms), on the embedded cloud with the fake revision provider."""

from __future__ import annotations

import pytest

from pilothouse.services import alerts
from tests.support import deploying
from tests.support.deploying import comp, deployment, running, update

services, provider, run = deploying.services, deploying.provider, deploying.run


def canary(rules):
    return {
        "version": "2.0.0",
        "strategy": {
            "type": "canary",
            "percentage": 10,
            "interval_seconds": 0,
            "analysis": {"max_error_rate": 0.05, "alerts": rules},
        },
    }


@pytest.mark.parametrize(("firing", "outcome"), [(True, "rolled_back"), (False, "succeeded")])
def test_the_step_fails_while_the_named_rule_fires(api, run, provider, services, firing, outcome):
    """Given a running component with healthy metrics and an alert rule that fires (or not)
    When a canary's analysis names the rule
    Then the deployment is rolled back naming the firing rule (or succeeds)."""
    running(api, run)
    provider.metrics["2.0.0"] = {"requests": 100, "errors": 0}
    api.post("/v1/alerts/rules", {"name": "web-5xx", "kind": "event", "component": "web"})
    if firing:
        alerts.transition(services, "web-5xx", "breaching", {"event": "test"})
    update(api, canary(["web-5xx"]))
    run()
    dep = deployment(api)
    assert dep["status"] == outcome, dep
    if firing:
        assert dep["analysis"][0]["reasons"] == ["alert rules firing: web-5xx"]
        assert comp(api)["version"] == "1.0.0"
    else:
        assert comp(api)["version"] == "2.0.0"


def test_a_rule_that_does_not_exist_fails_the_step(api, run, provider):
    """Given an analysis naming a rule nobody created
    Then the step fails rather than pass by mistake."""
    running(api, run)
    provider.metrics["2.0.0"] = {"requests": 100, "errors": 0}
    update(api, canary(["nope"]))
    run()
    dep = deployment(api)
    assert dep["status"] == "rolled_back" and "nope (no such rule)" in dep["analysis"][0]["reasons"][0]
