"""The collection sweep on real local processes: the router's figures, a Prometheus scrape, and
Pilothouse's own EMF (issue 11 §1)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from pilothouse.repositories.components import ComponentRepository
from pilothouse.runtime import emf
from pilothouse.services import metrics
from pilothouse.services.metric_collection import collect, collect_component
from pilothouse.wiring import Services
from tests.support.controlplane import drain
from tests.support.specs import spec

pytestmark = pytest.mark.timeout(120)


def window(minutes: int = 3) -> dict:
    now = datetime.now(UTC)
    return {"start": now - timedelta(minutes=minutes), "end": now + timedelta(minutes=1), "period": 60}


def total(services, component, metric, stat="Sum", **dims) -> float:
    points = metrics.query(services, component, metric, stat=stat, dimensions=dims or None, **window())
    return sum(p.value or 0 for p in points)


def test_router_figures_and_a_scrape_land_as_metrics(api, services, pool, cloud, loopback_only):
    """Given a running greeter that declares metrics, When it answered 20 requests (one a 404) and the
    sweep collects, Then requests, errors and latency come from the router and the scrape's counter
    is a series of its own; a second sweep over the same minutes counts nothing twice."""
    assert api.post("/v1/components", spec("web", metrics={"path": "/metrics"}))[0] == 201
    assert api.post("/v1/components/web/deploy")[0] == 202
    drain(services, pool, cloud)
    record = ComponentRepository(services.store).require("web").data
    assert record["state"] == "Running", record.get("last_error")
    # a first sweep measures the last minute only: the 20 requests must not straddle a minute's end
    # (under load they once did, and half of them fell in the minute before)
    if time.time() % 60 > 45:
        time.sleep(60.5 - time.time() % 60)
    with httpx.Client(base_url=record["url"], timeout=10) as client:
        for i in range(20):
            assert client.get("/nope" if i == 0 else "/").status_code in (200, 404)
    until = time.time() // 60 * 60 + 60  # the end of this minute
    outcome = collect_component(services, record, until)
    assert "scrape_error" not in outcome, outcome
    assert total(services, "web", "requests") == 20.0
    assert total(services, "web", "errors") == 0.0
    assert total(services, "web", "latency_ms", stat="SampleCount", revision="1.0.0") == 20.0
    assert total(services, "web", "greeter_requests_total", stat="Maximum", version="1.0.0") >= 20.0
    # the cursor moved: the same minutes are not measured again
    assert collect_component(services, record, until)["datapoints"] == 0
    assert total(services, "web", "requests") == 20.0


def test_each_replica_is_scraped_on_its_own_port_and_a_dead_one_is_recorded(api, services, pool, cloud):
    """Given a greeter with two replicas that declares metrics, one of them SIGKILLed, When the sweep
    collects, Then the live replica's counter lands with its ``replica`` label (scraped on its own
    port, not through the router), ``up`` is 1 for it and 0 for the dead one, whose failure the
    outcome records without stopping the sweep."""
    import os
    import signal

    from pilothouse.ports.providers import Placement

    two = spec("web", metrics={"path": "/metrics"}, scaling={"min": 2, "max": 5})
    assert api.post("/v1/components", two)[0] == 201
    assert api.post("/v1/components/web/deploy")[0] == 202
    drain(services, pool, cloud)
    record = ComponentRepository(services.store).require("web").data
    assert record["state"] == "Running", record.get("last_error")
    provider = services.provider("local")
    placement = Placement.from_dict(record["placement"])
    endpoints = provider.replica_endpoints(placement)
    assert len(endpoints) == 2 and all(e.alive for e in endpoints)
    assert all(e.url.startswith("http://127.0.0.1:") and e.url != record["url"] for e in endpoints)
    live, dead = endpoints
    with httpx.Client(base_url=live.url, timeout=10) as client:
        for _ in range(7):
            assert client.get("/").status_code == 200
    [victim] = [p for p in provider.probe_replicas(placement, 5.0) if p.id == dead.id]
    assert victim.pid is not None
    os.kill(victim.pid, signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline and any(
        e.alive for e in provider.replica_endpoints(placement) if e.id == dead.id
    ):
        time.sleep(0.1)
    until = time.time() // 60 * 60 + 60
    outcome = collect_component(services, record, until)
    assert list(outcome["scrape_errors"]) == [dead.id], outcome
    assert total(services, "web", "up", stat="Maximum", replica=live.id) == 1.0
    assert total(services, "web", "up", stat="SampleCount", replica=dead.id) == 1.0
    assert total(services, "web", "up", stat="Maximum", replica=dead.id) == 0.0
    assert total(services, "web", "greeter_requests_total", stat="Maximum", replica=live.id) >= 7.0
    assert total(services, "web", "greeter_requests_total", stat="SampleCount", replica=dead.id) == 0.0


def test_a_refused_scrape_is_reported_and_the_router_still_counts(api, services, pool, cloud):
    """Given a spec with metrics and outbound private addresses refused, When the sweep runs, Then the
    scrape is reported refused without a request, and the router's figures still land."""
    assert api.post("/v1/components", spec("web", metrics={"path": "/metrics"}))[0] == 201
    assert api.post("/v1/components/web/deploy")[0] == 202
    drain(services, pool, cloud)
    record = ComponentRepository(services.store).require("web").data
    httpx.get(record["url"], timeout=10)
    strict = Services(
        services.settings.model_copy(update={"outbound_allow_private": False}),
        store=services.store,
        providers={"local": services.provider("local")},
    )
    until = time.time() // 60 * 60 + 60
    outcome = collect_component(strict, record, until)
    assert outcome["scrape_error"].startswith("refused")
    assert total(services, "web", "requests") == 1.0


def test_own_functions_emf_is_ingested_by_the_sweep(api, services):
    """Given calls to Pilothouse's own functions, When the sweep runs with the buffered EMF, Then
    component pilothouse has their invocations per function."""
    emf.drain()
    for _ in range(3):
        assert api.get("/v1/components")[0] == 200
    report = collect(services, own=emf.drain())
    assert report["own"] >= 9  # three metrics per invocation
    assert total(services, "pilothouse", "Invocations", function="list_components") == 3.0


def test_queue_and_scheduled_functions_emf_is_ingested_by_the_sweep(services):
    """Given a queue function (one batch with a failed record) and a scheduled function run on the
    embedded default, When the sweep runs with the buffered EMF, Then component pilothouse has
    their invocations and errors per function."""
    from pilothouse.runtime.queue import scheduled_function, sqs_function

    def queue_job(body: str) -> str:
        if body == "bad":
            raise ValueError("refused")
        return body

    def schedule_job(event: dict) -> int:
        return 1

    record = {"messageId": "m", "receiptHandle": "r", "attributes": {}, "messageAttributes": {}}
    batch = {"Records": [{**record, "body": "ok"}, {**record, "messageId": "n", "body": "bad"}]}
    emf.drain()
    sqs_function(queue_job)(batch, None)
    for _ in range(2):
        scheduled_function(schedule_job)({"resources": ["rule"]}, None)
    report = collect(services, own=emf.drain())
    assert report["own"] >= 9
    assert total(services, "pilothouse", "Invocations", function="queue_job") == 1.0
    assert total(services, "pilothouse", "Errors", function="queue_job") == 1.0
    assert total(services, "pilothouse", "Invocations", function="schedule_job") == 2.0
    assert total(services, "pilothouse", "Errors", function="schedule_job") == 0.0
    assert total(services, "pilothouse", "Latency", stat="SampleCount", function="schedule_job") == 2.0
