"""Alert rules and alerts through the functions: validation, event and backup-age rules moving
OK → FIRING → RESOLVED with history, acknowledge, silences, notifications of transitions, roles."""

from __future__ import annotations

import pytest

from pilothouse.services.alert_sweep import sweep
from pilothouse.services.event_feed import dispatch, publish
from tests.support.controlplane import drain
from tests.support.receivers import Receiver

QUEUE = "pilothouse-notifications"
EVENT_RULE = {"name": "rollbacks", "kind": "event", "component": "web", "severity": "critical"}


def make_key(api, role):
    return api.post("/v1/api-keys", {"name": f"{role}-key", "role": role})[2]["key"]


def rolled_back(services, component="web"):
    publish(
        services,
        {
            "source": "deployment",
            "type": "deployment.rolled_back",
            "component": component,
            "environment": "production",
            "deployment": "0000000000000000001-0000abcd",
            "summary": "2.0.0 → 1.0.0: analysis failed",
        },
        subject=component,
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "kind": "metric", "component": "web", "metric": "m", "threshold": 1}, "comparator"),
        (
            {
                "name": "x",
                "kind": "metric",
                "component": "web",
                "metric": "m",
                "comparator": "GreaterThanThreshold",
                "threshold": 1,
                "evaluation_periods": 2,
                "datapoints_to_alarm": 3,
            },
            "",
        ),
        ({"name": "x", "kind": "health", "component": "web", "for_minutes": -1}, "for_minutes"),
        ({"name": "x", "kind": "nope"}, ""),
        ({"name": "Bad Name", "kind": "event"}, "name"),
        ({"name": "rules", "kind": "event"}, "name"),
        ({"name": "x", "kind": "event", "events": ["not a pattern"]}, ""),
        ({"name": "x", "kind": "backup_age"}, "rpo_minutes"),
        ({"name": "x", "kind": "event", "surprise": 1}, "surprise"),
    ],
)
def test_a_bad_rule_is_a_422_naming_the_field(api, body, field):
    """Given a rule with a mistake
    When it is created
    Then the answer is 422 problem+json whose errors name the field."""
    status, headers, problem = api.post("/v1/alerts/rules", body)
    assert status == 422, problem
    assert headers["content-type"].startswith("application/problem+json")
    assert any(field in e["field"] for e in problem["errors"]), problem


def test_an_event_rule_fires_on_a_rollback_notifies_and_resolves(api, services, pool, cloud, loopback_only):
    """Given an event rule on web's rollbacks and a channel subscribed to alert.*
    When a deployment.rolled_back event of web (and one of another component) is dispatched, and
    later a deployment.succeeded
    Then the alert goes OK → FIRING (deciding values: the event) → RESOLVED, with history, and
    alert.firing then alert.resolved reach the receiver."""
    receiver = Receiver()
    try:
        created = api.post(
            "/v1/notifications/channels",
            {
                "name": "pager",
                "kind": "webhook",
                "url": receiver.url,
                "subscriptions": [{"events": ["alert.*"]}],
            },
        )[2]
        receiver.secret = created["secret"]
        status, _, rule = api.post("/v1/alerts/rules", EVENT_RULE)
        assert status == 201, rule
        assert rule["rule"]["events"] == ["deployment.rolled_back", "deployment.failed"]
        assert api.get("/v1/alerts/rollbacks")[2]["state"] == "OK"
        rolled_back(services, "other")
        dispatch(services)
        assert api.get("/v1/alerts/rollbacks")[2]["state"] == "OK"  # another component's
        rolled_back(services)
        sweep(services)  # dispatches the rollback, then the alert's own firing
        alert = api.get("/v1/alerts/rollbacks")[2]
        assert alert["state"] == "FIRING" and alert["last_values"]["type"] == "deployment.rolled_back"
        assert [a["rule"] for a in api.get("/v1/alerts", query="state=FIRING")[2]["items"]] == ["rollbacks"]
        drain(services, pool, cloud, [QUEUE])
        assert [r["body"]["type"] for r in receiver.received] == ["alert.firing"] and all(receiver.verified)
        assert receiver.received[0]["body"]["detail"]["rule"] == "rollbacks"
        publish(
            services,
            {"source": "deployment", "type": "deployment.succeeded", "component": "web"},
            subject="web",
        )
        sweep(services)
        drain(services, pool, cloud, [QUEUE])
        alert = api.get("/v1/alerts/rollbacks")[2]
        assert alert["state"] == "RESOLVED"
        assert [(h["from"], h["to"]) for h in alert["history"] if h["type"] == "state"] == [
            ("FIRING", "RESOLVED"),
            ("OK", "FIRING"),
        ]
        assert [r["body"]["type"] for r in receiver.received] == ["alert.firing", "alert.resolved"]
    finally:
        receiver.close()


def test_ack_and_silence(api, services, pool, cloud, loopback_only):
    """Given a firing alert
    When an operator acknowledges it and silences it, and it fires again while silenced
    Then both are recorded with who and why, a viewer may do neither, an OK alert cannot be
    acknowledged, and the silenced firing sends no notification."""
    receiver = Receiver()
    try:
        api.post(
            "/v1/notifications/channels",
            {
                "name": "pager",
                "kind": "slack",
                "url": receiver.url,
                "subscriptions": [{"events": ["alert.*"]}],
            },
        )
        api.post("/v1/alerts/rules", {**EVENT_RULE, "resolve_on": ["deployment.succeeded"]})
        viewer, operator = make_key(api, "viewer"), make_key(api, "operator")
        assert api.post("/v1/alerts/rollbacks/ack", {}, key=operator)[0] == 409  # OK: nothing to ack
        rolled_back(services)
        sweep(services)
        assert api.post("/v1/alerts/rollbacks/ack", {}, key=viewer)[0] == 403
        status, _, acked = api.post("/v1/alerts/rollbacks/ack", {"comment": "on it"}, key=operator)
        assert status == 200 and acked["acknowledged"]["comment"] == "on it"
        status, _, silenced = api.post(
            "/v1/alerts/rollbacks/silence", {"minutes": 30, "reason": "rolling out a fix"}, key=operator
        )
        assert status == 200 and silenced["silenced"]["reason"] == "rolling out a fix"
        assert api.post("/v1/alerts/rollbacks/silence", {"minutes": 30}, key=operator)[0] == 422  # a reason
        publish(
            services,
            {"source": "deployment", "type": "deployment.succeeded", "component": "web"},
            subject="web",
        )
        sweep(services)
        assert api.get("/v1/alerts/rollbacks")[2]["acknowledged"] is None  # cleared on resolve
        rolled_back(services)
        sweep(services)
        drain(services, pool, cloud, [QUEUE])
        assert api.get("/v1/alerts/rollbacks")[2]["state"] == "FIRING"
        # one Slack message: the first firing; the resolve and the second firing were silenced
        assert [r["body"]["text"].split("]")[0] for r in receiver.received] == ["[alert.firing"]
        history = api.get("/v1/alerts/rollbacks")[2]["history"]
        assert {"acknowledged", "silenced", "state"} <= {h["type"] for h in history}
    finally:
        receiver.close()


def test_a_backup_older_than_its_rpo_fires(manual_services, clock, api):
    """Given a backup_age rule with an RPO of 60 minutes
    When no backup was ever seen, then one is, then 61 minutes pass without another
    Then the alert stays OK (no data), stays OK, then fires with the backup's age."""
    api.post("/v1/alerts/rules", {"name": "rpo", "kind": "backup_age", "rpo_minutes": 60})
    sweep(manual_services)
    assert api.get("/v1/alerts/rpo")[2]["state"] == "OK"
    publish(manual_services, {"source": "backups", "type": "backup.succeeded"}, subject="backups")
    sweep(manual_services)
    assert api.get("/v1/alerts/rpo")[2]["state"] == "OK"
    clock.advance(61 * 60)
    sweep(manual_services)
    alert = api.get("/v1/alerts/rpo")[2]
    assert alert["state"] == "FIRING" and alert["last_values"]["backup_age_minutes"] >= 61
    publish(manual_services, {"source": "backups", "type": "backup.succeeded"}, subject="backups")
    sweep(manual_services)
    assert api.get("/v1/alerts/rpo")[2]["state"] == "RESOLVED"


def test_an_event_rule_resolves_by_itself_after_its_time(manual_services, clock, api):
    """Given a firing event rule with resolve_after_minutes 10
    When 10 minutes pass with no matching event
    Then the sweep resolves it, saying why."""
    api.post("/v1/alerts/rules", {**EVENT_RULE, "resolve_after_minutes": 10})
    rolled_back(manual_services)
    sweep(manual_services)
    assert api.get("/v1/alerts/rollbacks")[2]["state"] == "FIRING"
    clock.advance(601)
    sweep(manual_services)
    alert = api.get("/v1/alerts/rollbacks")[2]
    assert alert["state"] == "RESOLVED" and "10" in alert["last_values"]["reason"]


def test_rules_crud_and_roles(api):
    """Given keys of each role
    Then reading rules needs viewer, creating and deleting need deployer; names are unique; a
    deleted rule's alert is gone."""
    viewer, operator, deployer = (make_key(api, r) for r in ("viewer", "operator", "deployer"))
    health = {"name": "web-down", "kind": "health", "component": "web", "for_minutes": 3}
    status, _, problem = api.post("/v1/alerts/rules", health, key=operator)
    assert status == 403 and problem["required_permission"] == "alerts:write"
    assert api.post("/v1/alerts/rules", health, key=deployer)[0] == 201
    assert api.post("/v1/alerts/rules", health, key=deployer)[0] == 409
    assert [r["name"] for r in api.get("/v1/alerts/rules", key=viewer)[2]["items"]] == ["web-down"]
    assert api.get("/v1/alerts/rules/web-down", key=viewer)[2]["rule"]["for_minutes"] == 3
    assert api.get("/v1/alerts/web-down", key=viewer)[2]["state"] == "OK"
    assert api.delete("/v1/alerts/rules/web-down", key=viewer)[0] == 403
    assert api.delete("/v1/alerts/rules/web-down", key=deployer)[0] == 204
    assert api.get("/v1/alerts/web-down")[0] == 404
    assert api.get("/v1/alerts/rules/web-down")[0] == 404


def _ingest(services, clock, values, metric="error_rate", component="web"):
    """One datapoint per minute ending now-ish: values oldest first, None for a minute without one."""
    from pilothouse.domain.metrics import Datapoint, at
    from pilothouse.services.metrics import ingest

    points = []
    for value in values:
        clock.advance(60)
        if value is not None:
            points.append(Datapoint(component, metric, float(value), at(clock.time() - 30)))
    if points:
        from pilothouse.domain.components import ComponentSpec
        from pilothouse.repositories.components import ComponentRepository
        from pilothouse.services import components
        from tests.support.specs import spec

        if ComponentRepository(services.store).get(component) is None:  # only registered ones are measured
            components.register(services, ComponentSpec.model_validate(spec(component)), actor="t")
        ingest(services, points)


def test_a_metric_rule_moves_ok_pending_firing_resolved_with_m_of_n(manual_services, clock, api):
    """Given an error-rate rule: Average > 0.05 in 2 of the last 3 one-minute periods
    When one period breaches, then a second, then three are fine
    Then the alert is PENDING, then FIRING (values: the window), then RESOLVED; its history has
    each change with the values that decided it."""
    rule = {
        "name": "web-errors",
        "kind": "metric",
        "component": "web",
        "metric": "error_rate",
        "stat": "Average",
        "comparator": "GreaterThanThreshold",
        "threshold": 0.05,
        "period": 60,
        "evaluation_periods": 3,
        "datapoints_to_alarm": 2,
        "delay_seconds": 0,  # the datapoints are in at once here (ingested by the test)
    }
    assert api.post("/v1/alerts/rules", rule)[0] == 201
    clock.set(clock.time() // 60 * 60)
    _ingest(manual_services, clock, [0.01, 0.2])
    clock.advance(1)
    sweep(manual_services)
    assert api.get("/v1/alerts/web-errors")[2]["state"] == "PENDING"
    _ingest(manual_services, clock, [0.5])
    sweep(manual_services)
    alert = api.get("/v1/alerts/web-errors")[2]
    assert alert["state"] == "FIRING", alert
    assert alert["last_values"]["values"] == [0.01, 0.2, 0.5] and alert["last_values"]["breaching"] == 2
    _ingest(manual_services, clock, [0.0, 0.0, 0.0])
    sweep(manual_services)
    alert = api.get("/v1/alerts/web-errors")[2]
    assert alert["state"] == "RESOLVED"
    changes = [
        (h["from"], h["to"], h["values"]["breaching"]) for h in alert["history"] if h["type"] == "state"
    ]
    assert changes == [("FIRING", "RESOLVED", 0), ("PENDING", "FIRING", 2), ("OK", "PENDING", 1)]


@pytest.mark.parametrize(
    ("treatment", "state"),
    [("missing", "OK"), ("ignore", "OK"), ("breaching", "FIRING"), ("not_breaching", "OK")],
)
def test_missing_data_is_treated_as_the_rule_says(manual_services, clock, api, treatment, state):
    """Given a rule over a metric with no data at all
    When it is evaluated
    Then missing/ignore keep the state, breaching fires it, not_breaching keeps it OK."""
    rule = {
        "name": "quiet",
        "kind": "metric",
        "component": "web",
        "metric": "requests",
        "stat": "Sum",
        "comparator": "LessThanThreshold",
        "threshold": 1,
        "evaluation_periods": 2,
        "missing_data": treatment,
    }
    assert api.post("/v1/alerts/rules", rule)[0] == 201
    sweep(manual_services)
    alert = api.get("/v1/alerts/quiet")[2]
    assert alert["state"] == state and alert["last_values"]["values"] == [None, None]


def test_a_health_rule_fires_after_unhealthy_for_its_minutes(manual_services, clock, api):
    """Given a health rule (Unhealthy for 3 minutes) and a component whose health the sweep
    records as Unhealthy
    When 1, then 3 minutes pass, then it is Healthy again
    Then the alert is PENDING, FIRING, RESOLVED."""
    from pilothouse.clock import iso
    from pilothouse.repositories.components import ComponentRepository
    from tests.support.specs import spec

    assert api.post("/v1/components", spec("web"))[0] == 201
    api.post("/v1/alerts/rules", {"name": "web-down", "kind": "health", "component": "web", "for_minutes": 3})
    repo = ComponentRepository(manual_services.store)

    def set_health(status):
        record = repo.require("web")
        now = iso(clock.time())
        health = {"status": status, "since": now, "checked_at": now, "replicas": []}
        repo.update(record, {**record.data, "health": health}, {"type": "component.health", "reason": status})

    set_health("Unhealthy")
    clock.advance(60)
    sweep(manual_services)
    assert api.get("/v1/alerts/web-down")[2]["state"] == "PENDING"
    clock.advance(120)
    sweep(manual_services)
    alert = api.get("/v1/alerts/web-down")[2]
    assert alert["state"] == "FIRING" and alert["last_values"]["unhealthy_minutes"] == 3
    set_health("Healthy")
    sweep(manual_services)
    assert api.get("/v1/alerts/web-down")[2]["state"] == "RESOLVED"


def test_an_error_rate_rule_divides_errors_by_requests(manual_services, clock, api):
    """Given a rule Sum(errors) / Sum(requests) > 0.1 over one minute
    When a minute has 100 requests and 30 errors, then one with 100 requests and no errors, then
    one with no requests at all
    Then the alert fires (0.3), resolves (0.0), and stays as it is (no data: missing); with the
    default delay of 60 s, the same minute is judged a minute later."""
    rule = {
        "name": "web-error-rate",
        "kind": "metric",
        "component": "web",
        "metric": "errors",
        "denominator": "requests",
        "stat": "Sum",
        "comparator": "GreaterThanThreshold",
        "threshold": 0.1,
        "delay_seconds": 0,
    }
    assert api.post("/v1/alerts/rules", rule)[0] == 201
    clock.set(clock.time() // 60 * 60)
    _ingest(manual_services, clock, [100], metric="requests")
    clock.advance(-60)
    _ingest(manual_services, clock, [30], metric="errors")
    clock.advance(1)
    sweep(manual_services)
    alert = api.get("/v1/alerts/web-error-rate")[2]
    assert alert["state"] == "FIRING" and alert["last_values"]["values"] == [0.3]
    _ingest(manual_services, clock, [100], metric="requests")
    sweep(manual_services)
    alert = api.get("/v1/alerts/web-error-rate")[2]
    assert alert["state"] == "RESOLVED" and alert["last_values"]["values"] == [0.0]
    clock.advance(60)
    sweep(manual_services)
    alert = api.get("/v1/alerts/web-error-rate")[2]
    assert alert["state"] == "RESOLVED" and alert["last_values"]["values"] == [None]
    late = {**rule, "name": "late", "delay_seconds": 60}
    assert api.post("/v1/alerts/rules", late)[0] == 201
    sweep(manual_services)  # judges the minute before the last: 100 requests, no errors
    assert api.get("/v1/alerts/late")[2]["last_values"]["values"] == [0.0]
