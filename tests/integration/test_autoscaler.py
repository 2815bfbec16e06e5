"""The auto scaler through the functions: policies over the API, the sweep acting through the Scale
command (audited, freeze-aware, 409-safe), decisions recorded (issue 11 §5)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from pilothouse.services import autoscaler, freezes, metrics
from pilothouse.services.metrics import Datapoint
from pilothouse.settings import get_settings
from pilothouse.wiring import Services, register_services
from tests.support.controlplane import drain
from tests.support.fakes import RevisionFake
from tests.support.specs import spec

POLICY = {
    "target_tracking": [{"metric": "requests_per_replica", "target": 1}],
    "scale_out_cooldown": 60,
    "scale_in_cooldown": 120,
}


@pytest.fixture
def services(env):
    s = Services(get_settings(), providers={"local": RevisionFake()})
    register_services(s)
    return s


@pytest.fixture
def running(api, services, pool, cloud):
    assert api.post("/v1/components", spec("web"))[0] == 201
    assert api.post("/v1/components/web/deploy")[0] == 202
    drain(services, pool, cloud)
    assert api.get("/v1/components/web")[2]["state"] == "Running"
    return lambda: drain(services, pool, cloud)


def load(services, requests_per_minute: int) -> None:
    """The router's figure for this minute, as the collection sweep would ingest it."""
    now = datetime.now(UTC)
    metrics.ingest(
        services,
        [Datapoint("web", "requests", float(requests_per_minute), now, "Count", {"revision": "1.0.0"})],
    )


def test_load_scales_out_through_the_scale_command(api, services, running):
    """Given 10 req/s on one replica and a target of 1, When the sweep runs, Then the component is
    scaled to its max (5) through the Scale command: an event by the autoscaler, an audit record,
    and a decision with its reason and readings."""
    assert api.call("PUT", "/v1/components/web/autoscaling", POLICY)[0] == 200
    load(services, 600)
    summary = autoscaler.sweep(services)
    assert summary["scaled"] == [{"component": "web", "from": 1, "to": 5}]
    running()
    component = api.get("/v1/components/web")[2]
    assert (component["state"], component["replicas"]) == ("Running", 5)
    events = api.get("/v1/components/web/events")[2]["items"]
    assert any(e["type"] == "scale.requested" and e["actor"] == "autoscaler" for e in events)
    audit = api.get("/v1/audit", query="principal=autoscaler")[2]["items"]
    assert audit and audit[0]["operation"] == "scale_component" and audit[0]["status"] == 202
    got = api.get("/v1/components/web/autoscaling")[2]
    [decision] = got["decisions"]
    assert decision["action"] == "scale_out" and decision["outcome"] == "accepted"
    assert decision["readings"]["requests_per_replica"] == pytest.approx(10.0)
    assert "kept within [1, 5]" in decision["reason"]
    # at its max, more load holds; the readings say why
    load(services, 6000)
    autoscaler.sweep(services)
    latest = api.get("/v1/components/web/autoscaling")[2]["decisions"][0]
    assert latest["action"] == "hold" and latest["current"] == 5 and latest["outcome"] is None


def test_a_freeze_stops_the_autoscaler(api, services, running):
    """Given a frozen component, When load asks for more replicas, Then nothing scales and the
    decision says frozen (with a 409 audit record)."""
    api.call("PUT", "/v1/components/web/autoscaling", POLICY)
    freezes.freeze(services, "component", "web", "incident 42", actor="test")
    load(services, 600)
    assert autoscaler.sweep(services)["scaled"] == []
    assert api.get("/v1/components/web")[2]["replicas"] == 1
    assert api.get("/v1/components/web/autoscaling")[2]["decisions"][0]["outcome"] == "frozen"


def test_racing_sweeps_scale_once(api, services, running):
    """Given two sweeps evaluating the same component at once, Then exactly one Scale command is
    accepted and the other loses safely (conflict or nothing to do)."""
    api.call("PUT", "/v1/components/web/autoscaling", POLICY)
    load(services, 600)
    barrier = threading.Barrier(2)
    results = []

    def sweep():
        barrier.wait()
        results.append(autoscaler.sweep(services))

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(len(r["scaled"]) for r in results) == 1
    running()
    assert api.get("/v1/components/web")[2]["replicas"] == 5


def test_disable_stops_evaluation_and_permissions_hold(api, services, running):
    """A viewer reads but may not set; a bad policy is a 422 naming its field; disabled stays put."""
    viewer = api.post("/v1/api-keys", {"name": "v", "role": "viewer"})[2]["key"]
    operator = api.post("/v1/api-keys", {"name": "o", "role": "operator"})[2]["key"]
    status, _, problem = api.call("PUT", "/v1/components/web/autoscaling", POLICY, key=viewer)
    assert status == 403 and problem["required_permission"] == "components:operate"
    assert api.get("/v1/components/web/autoscaling", key=viewer)[0] == 200
    bad = {"target_tracking": [{"metric": "requests_per_replica", "target": -1}]}
    status, _, problem = api.call("PUT", "/v1/components/web/autoscaling", bad, key=operator)
    assert status == 422 and problem["errors"][0]["field"] == "target_tracking.0.target"
    assert api.call("PUT", "/v1/components/nope/autoscaling", POLICY)[0] == 404
    assert api.call("PUT", "/v1/components/web/autoscaling", POLICY, key=operator)[0] == 200
    status, _, body = api.delete("/v1/components/web/autoscaling", key=operator)
    assert status == 200 and body["policy"]["enabled"] is False
    load(services, 600)
    assert autoscaler.sweep(services) == {"evaluated": 0, "scaled": [], "failed": []}
    assert api.get("/v1/components/web")[2]["replicas"] == 1
