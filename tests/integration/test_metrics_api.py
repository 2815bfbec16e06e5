"""POST /v1/metrics, GET /v1/components/{name}/metrics and GET /v1/metrics/prometheus, through the
functions as the gateway invokes them."""

from __future__ import annotations

import json
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.specs import spec


@pytest.fixture(autouse=True)
def greeter(api):
    """Datapoints are taken only for registered components: register the one these tests measure."""
    status, _, body = api.post("/v1/components", spec("greeter"))
    assert status == 201, body


def make_key(api, role: str) -> dict:
    status, _, body = api.post("/v1/api-keys", {"name": f"{role}-metrics", "role": role})
    assert status == 201, body
    return body


def now_ms() -> int:
    return int(time.time() * 1000)


def emf(value, *, service="greeter", name="Hits"):
    return {
        "_aws": {
            "Timestamp": now_ms(),
            "CloudWatchMetrics": [
                {
                    "Namespace": "Pilothouse",
                    "Dimensions": [["service", "route"]],
                    "Metrics": [{"Name": name, "Unit": "Count"}],
                }
            ],
        },
        "service": service,
        "route": "/hello",
        name: value,
    }


def test_datapoints_and_emf_are_ingested_and_queried(api):
    """Given datapoints and an EMF document, When posted and queried, Then the sums add up."""
    body = {
        "datapoints": [
            {"component": "greeter", "name": "latency_ms", "value": v, "unit": "Milliseconds"}
            for v in (10, 20, 30)
        ],
        "emf": [emf([1, 2, 3])],
    }
    status, _, answer = api.post("/v1/metrics", body)
    assert status == 202 and answer == {"accepted": 6}
    status, _, got = api.get(
        "/v1/components/greeter/metrics", query="metric=latency_ms&stat=Maximum&start=5m"
    )
    assert status == 200 and max(p["value"] or 0 for p in got["points"]) == 30.0
    status, _, got = api.get(
        "/v1/components/greeter/metrics", query="metric=Hits&stat=Sum&start=5m&dimension=route%3D%2Fhello"
    )
    assert sum(p["value"] or 0 for p in got["points"]) == 6.0
    status, _, listing = api.get("/v1/components/greeter/metrics")
    assert {s["name"] for s in listing["metrics"]} == {"latency_ms", "Hits"}


def test_bad_datapoints_are_named_by_index_and_nothing_is_written(api):
    """Given a batch with a bad value type, a bad name and a broken EMF document, Then 422 names each."""
    status, headers, problem = api.post(
        "/v1/metrics",
        {
            "datapoints": [
                {"component": "greeter", "name": "ok", "value": 1},
                {"component": "greeter", "name": "x", "value": "many"},
            ]
        },
    )
    assert status == 422 and headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in problem["errors"]] == ["datapoints.1.value"]
    status, _, problem = api.post(
        "/v1/metrics",
        {
            "datapoints": [
                {"component": "greeter", "name": "ok", "value": 1},
                {"component": "greeter", "name": "#no", "value": 1},
            ]
        },
    )
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["datapoints.1.name"]
    broken = emf(1)
    broken["Hits"] = "lots"
    status, _, problem = api.post("/v1/metrics", {"emf": [emf(1), broken]})
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["emf.1.Hits"]
    assert api.get("/v1/components/greeter/metrics")[2]["metrics"] == []


def test_batch_limits(api):
    """Given 1,001 datapoints, or EMF values beyond 1,000 in all, Then 422; a body over 1 MiB is 413."""
    one = {"component": "greeter", "name": "n", "value": 1}
    status, _, problem = api.post("/v1/metrics", {"datapoints": [one] * 1001})
    assert status == 422 and problem["errors"][0]["field"] == "datapoints"
    status, _, problem = api.post("/v1/metrics", {"datapoints": [one] * 1000, "emf": [emf([1])]})
    assert status == 422 and problem["errors"][0]["field"] == "datapoints"
    huge = json.dumps({"datapoints": [dict(one, name="n" * 200, dimensions={"k": "v" * 250})] * 4000})
    assert api.post("/v1/metrics", huge)[0] == 413


def test_permissions(api):
    """A viewer reads metrics but may not write them; without a key nothing is answered."""
    viewer = make_key(api, "viewer")["key"]
    operator = make_key(api, "operator")["key"]
    point = {"datapoints": [{"component": "greeter", "name": "n", "value": 1}]}
    status, _, problem = api.post("/v1/metrics", point, key=viewer)
    assert status == 403 and problem["required_permission"] == "metrics:write"
    assert api.post("/v1/metrics", point, key=operator)[0] == 202
    assert api.get("/v1/components/greeter/metrics", key=viewer)[0] == 200
    assert api.get("/v1/metrics/prometheus", key=None)[0] == 401


def test_bad_query_parameters_are_problems(api):
    """Given a bad statistic, period or time, Then 422 names the parameter."""
    for query, field in (
        ("metric=n&stat=p200", "stat"),
        ("metric=n&period=90", "period"),
        ("metric=n&start=yesterday", "start"),
    ):
        status, _, problem = api.get("/v1/components/greeter/metrics", query=query)
        assert status == 422 and problem["errors"][0]["field"] == field, (query, problem)


def test_prometheus_exposition_parses(api, services):
    """Given a datapoint in the last complete minute, Then the exposition carries it per stat and parses."""
    from datetime import UTC, datetime

    from pilothouse.services import metrics

    minute = int(time.time()) // 60 * 60 - 60
    metrics.ingest(
        services,
        [
            metrics.Datapoint(
                "greeter",
                "latency_ms",
                42.0,
                datetime.fromtimestamp(minute + 1, UTC),
                "Milliseconds",
                {"service.name": "x"},
            )
        ],
    )
    status, headers, body = api.gateway.handle(
        "GET", "/v1/metrics/prometheus", "", {"authorization": f"Bearer {api.key}"}, b""
    )
    assert status == 200 and headers["content-type"].startswith("text/plain")
    samples = [s for f in text_string_to_metric_families(body.decode()) for s in f.samples]
    p99 = [s for s in samples if s.name == "pilothouse_metric" and s.labels.get("stat") == "p99"]
    assert p99 and p99[0].labels["component"] == "greeter" and p99[0].labels["service_name"] == "x"
    assert abs(p99[0].value - 42.0) < 1e-9


def test_forged_and_hostile_requests(api):
    """Deeply nested EMF, a traversal in the component name, a forged statistic, a metrics path that
    is a URL, and a dimension named like a key separator are all refused without a write."""
    nested = '{"emf": [' + '{"x": ' * 5000 + "{}" + "}" * 5000 + "]}"
    status, _, problem = api.post("/v1/metrics", nested)
    assert status in (400, 413, 422), problem
    assert api.get("/v1/components/..%2F..%2Fetc/metrics")[0] == 404
    status, _, problem = api.get("/v1/components/greeter/metrics", query="metric=n&stat=p99%3Bdrop")
    assert status == 422 and problem["errors"][0]["field"] == "stat"
    bad_spec = {
        "name": "web", "provider": "local", "version": "1.0.0",
        "target": {"command": ["{python}", "examples/greeter/app.py", "--port", "{port}"]},
        "metrics": {"path": "http://169.254.169.254/latest/meta-data/"},
    }  # fmt: skip
    status, _, problem = api.post("/v1/components", bad_spec)
    assert status == 422 and problem["errors"][0]["field"].startswith("metrics")
    status, _, problem = api.post(
        "/v1/metrics",
        {"datapoints": [{"component": "greeter", "name": "n", "value": 1, "dimensions": {"a#b": "v"}}]},
    )
    assert status == 422 and problem["errors"][0]["field"] == "datapoints.0.dimensions.a#b"
    assert api.get("/v1/components/greeter/metrics")[2]["metrics"] == []


def sample_count(api, metric: str) -> float:
    status, _, got = api.get(
        "/v1/components/greeter/metrics", query=f"metric={metric}&stat=SampleCount&start=5m"
    )
    assert status == 200, got
    return sum(p["value"] or 0 for p in got["points"])


def test_identical_posts_all_count_unless_they_share_an_idempotency_key(api):
    """Given the same datapoint posted three times without a key, Then SampleCount is 3; When one is
    posted twice with the same Idempotency-Key, Then it is counted once."""
    body = {"datapoints": [{"component": "greeter", "name": "same", "value": 5}]}
    for _ in range(3):
        assert api.post("/v1/metrics", body)[::2] == (202, {"accepted": 1})
    assert sample_count(api, "same") == 3.0
    keyed = {"datapoints": [{"component": "greeter", "name": "keyed", "value": 1}]}
    for _ in range(2):
        assert api.post("/v1/metrics", keyed, headers={"Idempotency-Key": "batch-7"})[0] == 202
    assert sample_count(api, "keyed") == 1.0


def test_a_value_beyond_cloudwatchs_bounds_is_refused(api):
    """Given a datapoint of 1e308, When posted, Then 422 names datapoints.0.value and nothing lands."""
    body = {"datapoints": [{"component": "greeter", "name": "huge", "value": 1e308}]}
    status, _, problem = api.post("/v1/metrics", body)
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["datapoints.0.value"]
    assert api.get("/v1/components/greeter/metrics")[2]["metrics"] == []


def test_datapoints_of_an_unregistered_component_are_refused(api):
    """Given one request naming a registered component, an unknown one and the control plane's own,
    Then 422 names the unknown one's index and component, and no series is created."""
    body = {
        "datapoints": [
            {"component": "greeter", "name": "n", "value": 1},
            {"component": "nobody-here", "name": "n", "value": 1},
            {"component": "pilothouse", "name": "n", "value": 1},
        ]
    }
    status, _, problem = api.post("/v1/metrics", body)
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["datapoints.1.component"]
    assert api.get("/v1/components/greeter/metrics")[2]["metrics"] == []
    del body["datapoints"][1]
    assert api.post("/v1/metrics", body)[::2] == (202, {"accepted": 2})
