"""Cold start with the DynamoDB store, and get/register latency on DynamoDB-on-moto beside SQLite."""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest

from pilothouse.embedded.functions import FunctionPool
from pilothouse.runtime.events import http_event
from tests.support.bench import report
from tests.support.coldstart import cold_report, http_cases, production
from tests.support.controlplane import ADMIN_KEY
from tests.support.moto_server import MotoServer
from tests.support.specs import spec

pytestmark = pytest.mark.slow
N = int(os.environ.get("BENCH_N", "200"))


@pytest.fixture(scope="module")
def moto():
    with MotoServer() as server:
        yield server


def _aws_env(moto, table):
    return {
        **os.environ,
        "PILOTHOUSE_STORE": "dynamodb",
        "PILOTHOUSE_TABLE_NAME": table,
        "PILOTHOUSE_QUEUE": "memory",
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }


def test_cold_start_and_latency_on_dynamodb(moto, cloud, monkeypatch, tmp_path):
    from pilothouse.settings import get_settings
    from pilothouse.store.dynamodb import DynamoStore
    from pilothouse.wiring import get_services, reset_services

    table = f"bench-{uuid.uuid4().hex[:8]}"
    env = _aws_env(moto, table)
    for k, v in env.items():
        if k.startswith(("PILOTHOUSE_", "AWS_")):
            monkeypatch.setenv(k, v)
    reset_services()
    DynamoStore(table, create_table=True)
    services = get_services(get_settings())
    from pilothouse.services.keys import ensure_key

    ensure_key(services, ADMIN_KEY, name="bench")
    auth = {"authorization": f"Bearer {ADMIN_KEY}", "content-type": "application/json"}
    get_ev = http_event("GET", "/v1/components/seed", headers=auth, path_parameters={"name": "seed"})
    pool = FunctionPool(cloud.functions)
    pool.invoke(
        "RegisterComponentFunction",
        http_event("POST", "/v1/components", headers=auth, body=json.dumps(spec("seed"))),
    )
    # the anchor reads the very item get_component reads (the component record)
    key = json.dumps({"pk": {"S": "COMPONENT"}, "sk": {"S": "seed"}})
    runs = int(os.environ.get("BENCH_RUNS", "5"))
    cold_report(
        "cold start, import + first call on DynamoDB (moto on loopback)",
        lambda root: http_cases(root, cloud, auth, get_ev, anchor=(["hello+getitem", table, key], 200)),
        "anchor: bare Powertools + boto3 GetItem",
        production(env),
        tmp_path,
        runs,
    )
    rows = {}

    def measure(label: str, make) -> None:
        samples = []
        for i in range(N):
            ev = make(i)
            t = time.perf_counter()
            result = pool.invoke(ev[0], ev[1])
            samples.append(time.perf_counter() - t)
            assert result["statusCode"] in (200, 201), result
        samples.sort()
        rows[label] = (
            f"p50 {samples[len(samples) // 2] * 1000:.2f} ms   "
            f"p99 {samples[int(len(samples) * 0.99)] * 1000:.2f} ms"
        )

    measure("get on DynamoDB-on-moto", lambda i: ("GetComponentFunction", get_ev))
    measure(
        "register on DynamoDB-on-moto",
        lambda i: (
            "RegisterComponentFunction",
            http_event("POST", "/v1/components", headers=auth, body=json.dumps(spec(f"d{i:05d}"))),
        ),
    )
    reset_services()
    monkeypatch.setenv("PILOTHOUSE_STORE", "sqlite")
    monkeypatch.setenv("PILOTHOUSE_DATA_DIR", str(tmp_path / "sqlite"))
    services = get_services(get_settings())
    ensure_key(services, ADMIN_KEY, name="bench")
    pool.invoke(
        "RegisterComponentFunction",
        http_event("POST", "/v1/components", headers=auth, body=json.dumps(spec("seed"))),
    )
    measure("get on SQLite", lambda i: ("GetComponentFunction", get_ev))
    measure(
        "register on SQLite",
        lambda i: (
            "RegisterComponentFunction",
            http_event("POST", "/v1/components", headers=auth, body=json.dumps(spec(f"s{i:05d}"))),
        ),
    )
    reset_services()
    report("DynamoDB (moto server on loopback) beside SQLite", rows)
