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
