"""HTTP tasks (``arn:aws:states:::http:invoke``): a workflow calls a component's endpoint, a real
server on 127.0.0.1; errors are ``States.Http.StatusCode.<code>`` so Retry and Catch work."""

from __future__ import annotations

import json

import pytest

from pilothouse.settings import get_settings
from pilothouse.wiring import Services, register_services
from tests.support.controlplane import drain
from tests.support.executions import describe, history, start, wf
from tests.support.http_tasks import Scripted, running_component


@pytest.fixture
def services(env, clock):
    s = Services(get_settings(), clock)
    register_services(s)
    return s


@pytest.fixture
def run(services, pool, cloud):
    return lambda: drain(services, pool, cloud)


def _flow(endpoint: str, *, retry: list | None = None, catch: bool = False, **params) -> dict:
    call: dict = {
        "Type": "Task",
        "Resource": "arn:aws:states:::http:invoke",
        "Parameters": {"ApiEndpoint": endpoint, "Method": "POST", **params},
        "End": True,
    }
    if retry:
        call["Retry"] = retry
    if catch:
        call["Catch"] = [
            {"ErrorEquals": ["States.Http.StatusCode.404"], "ResultPath": "$.error", "Next": "Gone"}
        ]
        call.pop("End")
        call["Next"] = "Done"
    states: dict = {"Call": call}
    if catch:
        states["Gone"] = {"Type": "Pass", "Result": "not found", "ResultPath": "$.handled", "End": True}
        states["Done"] = {"Type": "Succeed"}
    return {"StartAt": "Call", "States": states}


def test_an_http_task_calls_a_component_and_returns_the_aws_shape(api, run, services):
    """Given a component with a stable URL, when a workflow's HTTP task posts to
    component://parser/parse with headers, query parameters and a JSON body, then the component
    receives exactly that and the task's result is StatusCode/StatusText/Headers/ResponseBody."""
    server = Scripted([(200, {"sections": 3})])
    try:
        running_component(services, "parser", server.url)
        flow = _flow(
            "component://parser/parse",
            Headers={"X-Request-Kind": "demo"},
            QueryParameters={"format": "md"},
            **{"RequestBody.$": "$.doc"},
        )
        wf(api, "calls", flow)
        start(api, "calls", {"doc": {"text": "# Title"}}, name="ok")
        run()
        done = describe(api, "calls", "ok")
    finally:
        server.close()
    assert done["status"] == "SUCCEEDED", done
    out = done["output"]
    assert (out["StatusCode"], out["StatusText"], out["ResponseBody"]) == (200, "OK", {"sections": 3})
    assert out["Headers"]["content-type"] == ["application/json"]
    [seen] = server.seen
    assert (seen["method"], seen["path"]) == ("POST", "/parse?format=md")
    assert json.loads(seen["body"]) == {"text": "# Title"}
    assert seen["headers"]["x-request-kind"] == "demo"
    assert seen["headers"]["content-type"] == "application/json"


def test_a_503_is_retried_and_then_succeeds(api, run, services, clock):
    """Given a component answering 503 twice then 200, when the task retries on
    States.Http.StatusCode.503, then it is called three times (back-off on the clock) and succeeds."""
    server = Scripted([(503, {"busy": True}), (503, {"busy": True}), (200, {"ok": 1})])
    retry = [{"ErrorEquals": ["States.Http.StatusCode.503"], "IntervalSeconds": 1, "MaxAttempts": 3}]
    try:
        running_component(services, "detector", server.url)
        wf(api, "retrying", _flow("component://detector/detect", retry=retry, RequestBody={"a": 1}))
        start(api, "retrying", name="r")
        run()
        for _ in range(3):
            clock.advance(3)
            run()
        done = describe(api, "retrying", "r")
    finally:
        server.close()
    assert done["status"] == "SUCCEEDED" and done["output"]["ResponseBody"] == {"ok": 1}
    assert len(server.seen) == 3
    failed = [e for e in history(api, "retrying", "r") if e["type"] == "TaskFailed"]
    assert len(failed) == 2 and all("States.Http.StatusCode.503" in json.dumps(e) for e in failed)


def test_a_404_goes_to_catch(api, run, services):
    """Given a component answering 404, when the task catches States.Http.StatusCode.404, then the
    execution takes the Catch branch and records the error."""
    server = Scripted([(404, {"message": "no such route"})])
    try:
        running_component(services, "generator", server.url)
        wf(api, "catching", _flow("component://generator/missing", catch=True, RequestBody={}))
        start(api, "catching", {"x": 1}, name="c")
        run()
        done = describe(api, "catching", "c")
    finally:
        server.close()
    assert done["status"] == "SUCCEEDED", done
    assert done["output"]["handled"] == "not found"
    assert done["output"]["error"]["Error"] == "States.Http.StatusCode.404"
    assert "no such route" in done["output"]["error"]["Cause"]


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[fd00:ec2::254]/latest",
        "http://0xA9FEA9FE/",
        "http://[::ffff:169.254.169.254]/",
    ],
)
def test_the_guard_refuses_a_metadata_address_at_definition(api, endpoint, monkeypatch):
    """Given an HTTP task naming a metadata address (in any spelling), even with every host
    allowed, then registering the workflow is a 422 naming ApiEndpoint; nothing is requested."""
    monkeypatch.setenv("PILOTHOUSE_HTTP_TASK_ALLOW_HOSTS", "*")
    status, _, problem = api.post("/v1/workflows", {"name": "meta", "definition": _flow(endpoint)})
    assert status == 422, problem
    assert problem["errors"][0]["path"] == "$.States.Call.Parameters.ApiEndpoint"


def test_plain_urls_need_the_allow_list(api):
    """Given no allow-list, a plain URL (even to loopback) is a 422 at definition naming ApiEndpoint
    and the setting that would allow it."""
    status, _, problem = api.post(
        "/v1/workflows", {"name": "plain", "definition": _flow("http://127.0.0.1:9/p")}
    )
    assert status == 422
    assert problem["errors"][0]["path"] == "$.States.Call.Parameters.ApiEndpoint"
    assert "PILOTHOUSE_HTTP_TASK_ALLOW_HOSTS" in problem["errors"][0]["message"]


@pytest.fixture
def allow_loopback(monkeypatch):
    monkeypatch.setenv("PILOTHOUSE_HTTP_TASK_ALLOW_HOSTS", "127.0.0.1")


def test_plain_urls_run_only_to_the_allow_list(allow_loopback, api, run, services):
    """Given 127.0.0.1 on the allow-list, a plain URL to it runs; a computed endpoint to a host off
    the list, or to a metadata address, fails at run time with Pilothouse.HttpTaskRefused."""
    server = Scripted([(200, {"pong": True})])
    try:
        wf(api, "plain", _flow(server.url + "/p"))
        start(api, "plain", name="p")
        flow = _flow("")
        flow["States"]["Call"]["Parameters"] = {"ApiEndpoint.$": "$.url", "Method": "GET"}
        wf(api, "computed", flow)
        start(api, "computed", {"url": "http://127.0.0.2:9/"}, name="off")
        start(api, "computed", {"url": "http://169.254.169.254/"}, name="meta")
        run()
        plain = describe(api, "plain", "p")
        off, meta = describe(api, "computed", "off"), describe(api, "computed", "meta")
    finally:
        server.close()
    assert plain["status"] == "SUCCEEDED" and plain["output"]["ResponseBody"] == {"pong": True}
    assert (off["status"], off["error"]) == ("FAILED", "Pilothouse.HttpTaskRefused")
    assert "allow-list" in off["cause"]
    assert (meta["status"], meta["error"]) == ("FAILED", "Pilothouse.HttpTaskRefused")
    assert "metadata" in meta["cause"]


def test_reserved_headers_and_bad_methods_are_refused(api):
    """Given an HTTP task setting Host or an unknown method, registration is a 422 naming the field."""
    flow = _flow("component://parser/x", Headers={"Host": "evil.example"})
    flow["States"]["Call"]["Parameters"]["Method"] = "TRACE"
    status, _, problem = api.post("/v1/workflows", {"name": "hdr", "definition": flow})
    assert status == 422
    paths = {e["path"] for e in problem["errors"]}
    assert {"$.States.Call.Parameters.Headers.Host", "$.States.Call.Parameters.Method"} <= paths
