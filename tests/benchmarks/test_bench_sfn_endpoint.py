"""The Step Functions endpoint's cost per call next to the HTTP API's (the anchor), same run.

Both go through the same in-process gateway (no socket) on one dev server's SQLite store:
DescribeExecution (SigV4 checked, the key authenticated) against GET /v1/.../executions/<name>
(bearer key), and StartExecution against POST /v1/workflows/<wf>/executions. The SigV4 request is
signed once by botocore and replayed (valid within its 15 minutes), so only the server's work is
timed.
"""

from __future__ import annotations

import itertools
import json
import os
import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from pilothouse.embedded.dev import DevServer
from tests.support.bench import report
from tests.support.controlplane import ADMIN_KEY, ROOT

N = int(os.environ.get("BENCH_N", "300"))
FLOW = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv("PILOTHOUSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PILOTHOUSE_ADMIN_KEY", ADMIN_KEY)
    from pilothouse.wiring import reset_services

    reset_services()
    srv = DevServer("127.0.0.1", 0, tmp_path / "data", ROOT)
    srv.start()
    yield srv
    srv.stop()
    reset_services()


def _signed(target: str, body: dict) -> tuple[dict[str, str], bytes]:
    raw = json.dumps(body).encode()
    request = AWSRequest(
        method="POST",
        url="http://127.0.0.1:8080/sfn",
        data=raw,
        headers={"X-Amz-Target": f"AWSStepFunctions.{target}", "Content-Type": "application/x-amz-json-1.0"},
    )
    creds = Credentials(ADMIN_KEY.split("_")[1], ADMIN_KEY, ADMIN_KEY)
    SigV4Auth(creds, "states", "us-east-1").add_auth(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    headers["host"] = "127.0.0.1:8080"
    return headers, raw


def _time(call, n: int) -> float:
    call(-1)  # warm
    t = time.perf_counter()
    for i in range(n):
        call(i)
    return (time.perf_counter() - t) / n


def test_sfn_calls_cost_next_to_the_http_api(server):
    gw = server.gateway.gateway
    bearer = {"authorization": f"Bearer {ADMIN_KEY}", "content-type": "application/json"}
    assert (
        gw.handle(
            "POST", "/v1/workflows", "", bearer, json.dumps({"name": "b", "definition": FLOW}).encode()
        )[0]
        == 201
    )
    gw.handle("POST", "/v1/workflows/b/executions", "", bearer, json.dumps({"name": "one"}).encode())
    arn = "arn:aws:states:us-east-1:123456789012:execution:b:one"
    h_desc, b_desc = _signed("DescribeExecution", {"executionArn": arn})

    def sfn_describe(i: int) -> None:
        status, _, out = gw.handle("POST", "/sfn", "", h_desc, b_desc)
        assert status == 200, out

    def http_describe(i: int) -> None:
        assert gw.handle("GET", "/v1/workflows/b/executions/one", "", bearer, b"")[0] == 200

    n = max(20, N // 5)
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:b"
    signed = iter(
        [_signed("StartExecution", {"stateMachineArn": machine, "name": f"s{i}"}) for i in range(n + 4)]
    )
    names = itertools.count()

    def sfn_start(i: int) -> None:
        assert gw.handle("POST", "/sfn", "", *next(signed))[0] == 200

    def http_start(i: int) -> None:
        body = json.dumps({"name": f"h{next(names)}"}).encode()
        assert gw.handle("POST", "/v1/workflows/b/executions", "", bearer, body)[0] == 201

    http_d, sfn_d = _time(http_describe, N), _time(sfn_describe, N)
    # starts leave work for the worker, which competes for the store: alternate halves, so that
    # neither side always runs while the other's executions drain
    half = n // 2
    http_s = _time(http_start, half) / 2
    sfn_s = _time(sfn_start, half) / 2
    http_s += _time(http_start, half) / 2
    sfn_s += _time(sfn_start, half) / 2
    report(
        "Step Functions endpoint vs the HTTP API (anchor), in-process gateway, SQLite",
        {
            "describe: HTTP API (anchor)": f"{http_d * 1000:.2f} ms",
            "describe: DescribeExecution": f"{sfn_d * 1000:.2f} ms   ratio {sfn_d / http_d:.2f}",
            "start: HTTP API (anchor)": f"{http_s * 1000:.2f} ms",
            "start: StartExecution": f"{sfn_s * 1000:.2f} ms   ratio {sfn_s / http_s:.2f}",
        },
    )
