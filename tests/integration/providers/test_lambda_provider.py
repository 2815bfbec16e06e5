"""The AWS Lambda provider against a real moto server (HTTP on 127.0.0.1), no mocks in-process.

moto cannot run the functions' code, so health checks use a ``health_url`` served by a tiny local
HTTP server (``/rev/<revision>`` answers 200 unless the revision is marked failing), except the
test of the invoke-based check (moto's "lambda simple" backend answers Invoke without running code).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from tests.support.moto_server import REGION, MotoServer

from pilothouse.providers.aws_lambda import LambdaProvider
from pilothouse.providers.base import HealthCheck, Placement, ProviderError, Release

pytestmark = pytest.mark.slow  # a moto server subprocess and HTTP


# -- fixtures --------------------------------------------------------------------------------------


class HealthServer:
    """``GET /rev/<revision>``: 200, or 503 for revisions in ``failing``; counts the hits."""

    def __init__(self) -> None:
        self.failing: set[str] = set()
        self.hits: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.hits.append(self.path)
                revision = self.path.rsplit("/", 1)[-1]
                status = 503 if revision in outer.failing else 200
                body = json.dumps({"revision": revision}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def health() -> Iterator[HealthServer]:
    server = HealthServer()
    yield server
    server.close()


@pytest.fixture
def lam(moto: MotoServer) -> Any:
    return moto.client("lambda")


@pytest.fixture
def cw(moto: MotoServer) -> Any:
    return moto.client("cloudwatch")


def _zip(marker: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", f"MARK = {marker!r}\n\ndef handler(event, context):\n    return MARK\n")
    return buf.getvalue()


def upload(lam: Any, function: str) -> None:
    """What the build does before a deployment: new code in $LATEST."""
    lam.update_function_code(FunctionName=function, ZipFile=_zip(uuid.uuid4().hex))


@pytest.fixture
def function(moto: MotoServer, lam: Any) -> str:
    iam = moto.client("iam")
    role = iam.create_role(
        RoleName="lambda-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    lam.create_function(
        FunctionName="orders-api",
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": _zip("first")},
    )
    return "orders-api"


@pytest.fixture
def provider(lam: Any, cw: Any) -> LambdaProvider:
    # moto's GetMetricData cannot compute percentiles (p99 answers HTTP 500): use Maximum here
    return LambdaProvider(
        lambda_client=lam,
        cloudwatch_client=cw,
        poll_interval=0.01,
        timeout_seconds=10,
        latency_statistic="Maximum",
    )


def release(function: str, version: str, health: HealthServer | None = None, **target: Any) -> Release:
    t: dict[str, Any] = {"function_name": function, "alias": "live", **target}
    if health is not None:
        t["health_url"] = health.url + "/rev/{revision}"
    return Release(
        component="orders",
        version=version,
        target=t,
        health=HealthCheck(interval_seconds=0.01, timeout_seconds=3, unhealthy_threshold=2),
    )


def alias_of(lam: Any, function: str) -> tuple[str, dict[str, float]]:
    a = lam.get_alias(FunctionName=function, Name="live")
    return a["FunctionVersion"], dict((a.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})


def weights(p: Placement) -> dict[str, int]:
    return {k: v["weight"] for k, v in p.details["revisions"].items()}


# -- deploy, canary, finalize, rollback ------------------------------------------------------------


def test_deploy_publishes_a_version_and_points_the_alias(provider, lam, function, health):
    p = provider.deploy(release(function, "1.0.0", health))

    assert alias_of(lam, function) == ("1", {})
    assert lam.get_function_configuration(FunctionName=function, Qualifier="1")["Description"] == "1.0.0"
    assert p.url is None  # no function URL
    assert p.version == "1.0.0" and p.replicas == 1
    d = p.details
    assert d["revisions"] == {"1": {"version": "1.0.0", "replicas": 1, "weight": 100}}
    assert d["stable"] == "1" and d["candidate"] is None
    assert d["function_arn"] == f"arn:aws:lambda:{REGION}:123456789012:function:{function}"
    assert d["alias_arn"] == d["function_arn"] + ":live"
    assert health.hits == ["/rev/1"]
    assert Placement.from_dict(json.loads(json.dumps(p.to_dict()))) == p  # plain JSON


def test_canary_round_shifts_weights_then_finalizes(provider, lam, function, health):
    p = provider.deploy(release(function, "1.0.0", health))
    upload(lam, function)

    p = provider.prepare(p, release(function, "2.0.0", health))
    assert p.details["candidate"] == "2" and p.details["stable"] == "1"
    assert weights(p) == {"1": 100, "2": 0}
    assert alias_of(lam, function) == ("1", {})  # still 100 % version 1
    assert "/rev/2" in health.hits  # the candidate was checked before any traffic

    p = provider.shift(p, {"1": 90, "2": 10})
    assert alias_of(lam, function) == ("1", {"2": 0.1})
    assert weights(p) == {"1": 90, "2": 10}

    p = provider.shift(p, {"1": 50, "2": 50})
    assert alias_of(lam, function) == ("1", {"2": 0.5})  # a tie keeps the alias where it points

    p = provider.shift(p, {"1": 25, "2": 75})
    assert alias_of(lam, function) == ("2", {"1": 0.25})  # the larger share becomes the primary

    p = provider.shift(p, {"1": 0, "2": 100})
    assert alias_of(lam, function) == ("2", {})

    p = provider.finalize(p, "2")
    assert alias_of(lam, function) == ("2", {})
    assert p.details["stable"] == "2" and p.details["candidate"] is None
    assert p.details["revisions"] == {"2": {"version": "2.0.0", "replicas": 1, "weight": 100}}
    assert p.version == "2.0.0"
    # versions are immutable: the old one stays published
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=function)["Versions"]]
    assert {"1", "2"} <= set(versions)


def test_second_round_rolls_back_to_stable(provider, lam, function, health):
    p = provider.deploy(release(function, "1.0.0", health))
    upload(lam, function)
    p = provider.finalize(provider.prepare(p, release(function, "2.0.0", health)), "2")
    upload(lam, function)

    p = provider.prepare(p, release(function, "3.0.0", health))
    assert p.details["stable"] == "2" and p.details["candidate"] == "3"
    p = provider.shift(p, {"2": 80, "3": 20})
    assert alias_of(lam, function) == ("2", {"3": 0.2})

    p = provider.rollback(p, "2")
    assert alias_of(lam, function) == ("2", {})  # routing config cleared
    assert p.details["stable"] == "2" and p.details["candidate"] is None
    assert weights(p) == {"2": 100}
    assert p.version == "2.0.0"


def test_prepare_without_a_first_deployment(provider, lam, function, health):
    p = provider.prepare(None, release(function, "1.0.0", health))
    assert p.details["stable"] == p.details["candidate"] == "1"
    assert alias_of(lam, function) == ("1", {})


def test_prepare_refuses_when_the_code_did_not_change(provider, lam, function, health):
    p = provider.deploy(release(function, "1.0.0", health))
    # moto keeps "$LATEST changed" set across a function's first PublishVersion (AWS does not), and
    # deploy wrote the release's config into $LATEST: one more round publishes and clears it
    upload(lam, function)
    p = provider.prepare(p, release(function, "1.5.0", health))
    p = provider.finalize(p, p.details["candidate"])
    with pytest.raises(ProviderError) as err:
        provider.prepare(p, release(function, "2.0.0", health))
    assert "did not change" in err.value.reason
    assert err.value.placement == p


def test_unhealthy_candidate_keeps_current_serving(provider, lam, function, health):
    p = provider.deploy(release(function, "1.0.0", health))
    upload(lam, function)
    health.failing.add("2")

    with pytest.raises(ProviderError) as err:
        provider.prepare(p, release(function, "2.0.0", health))
    assert "revision 2" in err.value.reason and "HTTP 503" in err.value.reason
    assert err.value.logs and "HTTP 503" in err.value.logs[-1]
    assert err.value.placement == p
    assert alias_of(lam, function) == ("1", {})


def test_shift_validates_weights(provider, lam, function, health):
    p = provider.deploy(release(function, "1.0.0", health))
    with pytest.raises(ProviderError, match="unknown revisions"):
        provider.shift(p, {"1": 50, "9": 50})
    with pytest.raises(ProviderError, match="sum to 100"):
        provider.shift(p, {"1": 90})


# -- health ----------------------------------------------------------------------------------------


def test_health_by_test_invoke_without_a_health_url(provider, lam, function):
    # moto's "lambda simple" backend answers Invoke (DryRun: 204) without running code
    p = provider.deploy(release(function, "1.0.0"))
    result = provider.check_health(p, "1")
    assert result.healthy, result.detail
    assert "Invoke DryRun of version 1: 204" in result.detail
    assert not provider.check_health(p, "7").healthy  # unknown revision


def test_health_of_a_missing_version_is_unhealthy(provider, lam, function):
    p = provider.deploy(release(function, "1.0.0"))
    d = dict(p.details)
    d["revisions"] = {**d["revisions"], "5": {"version": "x", "replicas": 1, "weight": 0}}
    result = provider.check_health(Placement.from_dict({**p.to_dict(), "details": d}), "5")
    assert not result.healthy and "ResourceNotFoundException" in result.detail


def test_placement_url_is_the_alias_function_url(provider, lam, function, health):
    url = lam.create_function_url_config(FunctionName=function, Qualifier="live", AuthType="NONE")[
        "FunctionUrl"
    ]
    # moto ignores Qualifier on function URLs (one URL per function); AWS keeps one per alias
    p = provider.deploy(release(function, "1.0.0", health))
    assert p.url == url


# -- replicas, stop, restore -----------------------------------------------------------------------


def test_replicas_map_to_provisioned_concurrency(provider, lam, function, health):
    p = provider.deploy(release(function, "1.0.0", health))
    p = provider.set_replicas(p, "1", 3)
    # moto has no provisioned-concurrency API (bare HTTP 404): recorded as a no-op
    assert "not supported by this endpoint" in p.details["provisioned_concurrency"]
    assert p.details["revisions"]["1"]["replicas"] == 3 and p.replicas == 3

    upload(lam, function)
    p = provider.prepare(p, release(function, "2.0.0", health))
    p = provider.set_replicas(p, "2", 2)
    assert p.details["provisioned_concurrency"].startswith("recorded only")
    assert p.details["revisions"]["2"]["replicas"] == 2

    p = provider.scale(p, release(function, "1.0.0", health), 0)
    assert p.details["revisions"]["1"]["replicas"] == 0
    with pytest.raises(ProviderError, match="unknown revision"):
        provider.set_replicas(p, "9", 1)


def test_stop_deletes_the_alias_and_restore_recreates_it(provider, lam, function, health):
    r = release(function, "1.0.0", health)
    p = provider.deploy(r)
    provider.stop(p)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_alias(FunctionName=function, Name="live")
    provider.stop(p)  # idempotent
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=function)["Versions"]] == [
        "$LATEST",
        "1",
    ]

    q = provider.restore(p, r)
    assert alias_of(lam, function) == ("1", {})
    assert q.details["stable"] == "1" and weights(q) == {"1": 100}


def test_restore_reads_the_routing_back(provider, lam, function, health):
    p = provider.deploy(release(function, "1.0.0", health))
    upload(lam, function)
    p = provider.shift(provider.prepare(p, release(function, "2.0.0", health)), {"1": 70, "2": 30})
    stale = Placement.from_dict(
        {**p.to_dict(), "details": {**p.details, "revisions": {"1": p.details["revisions"]["1"]}}}
    )

    q = provider.restore(stale, release(function, "2.0.0", health))
    assert weights(q) == {"1": 70, "2": 30}
    assert q.details["revisions"]["2"]["version"] == "2.0.0"  # from the version's description


# -- metrics and alarms ----------------------------------------------------------------------------


def _put(cw: Any, function: str, revision: str, metric: str, values: list[float], unit: str) -> None:
    cw.put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [
                    {"Name": "FunctionName", "Value": function},
                    {"Name": "Resource", "Value": f"{function}:live"},
                    {"Name": "ExecutedVersion", "Value": revision},
                ],
                "Timestamp": datetime.now(UTC),
                "Values": values,
                "Unit": unit,
            }
        ],
    )


def test_read_metrics_per_executed_version(provider, lam, cw, function, health):
    cw.put_metric_alarm(
        AlarmName="orders-errors", Namespace="AWS/Lambda", MetricName="Errors", Statistic="Sum",
        Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
    )  # fmt: skip
    cw.put_metric_alarm(
        AlarmName="orders-latency", Namespace="AWS/Lambda", MetricName="Duration", Statistic="Maximum",
        Period=60, EvaluationPeriods=1, Threshold=1000, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    r = release(function, "1.0.0", health, alarms=["orders-errors", "orders-latency", "not-there"])
    p = provider.deploy(r)
    upload(lam, function)
    p = provider.prepare(p, release(function, "2.0.0", health, alarms=r.target["alarms"]))

    m = provider.read_metrics(p, "2", 300)
    assert (m.requests, m.errors, m.error_rate, m.p99_ms) == (0, 0, None, None)
    assert m.alarms_in_alarm == ()

    _put(cw, function, "2", "Invocations", [10, 10], "Count")
    _put(cw, function, "2", "Errors", [1, 1], "Count")
    _put(cw, function, "2", "Duration", [12.5, 40.0, 230.0], "Milliseconds")
    _put(cw, function, "1", "Invocations", [500], "Count")  # the other version: not counted
    cw.set_alarm_state(AlarmName="orders-errors", StateValue="ALARM", StateReason="test")

    m = provider.read_metrics(p, "2", 300)
    assert (m.requests, m.errors) == (20, 2)
    assert m.error_rate == pytest.approx(0.1)
    assert m.p99_ms == pytest.approx(230.0)  # Maximum on moto: an upper bound of p99
    assert m.window_seconds == 300
    assert m.alarms_in_alarm == ("orders-errors",)
    assert provider.read_metrics(p, "1", 300).requests == 500


def test_p99_is_what_aws_gets_but_moto_cannot_compute(lam, cw, function, health):
    provider = LambdaProvider(lambda_client=lam, cloudwatch_client=cw, poll_interval=0.01)
    assert provider.latency_statistic == "p99"
    p = provider.deploy(release(function, "1.0.0", health))
    assert provider.read_metrics(p, "1", 60).p99_ms is None  # no data: moto answers
    _put(cw, function, "1", "Duration", [5.0], "Milliseconds")
    with pytest.raises(ProviderError, match="GetMetricData"):  # moto: HTTP 500 on a percentile
        provider.read_metrics(p, "1", 60)


# -- errors, configuration, wiring -----------------------------------------------------------------


def test_aws_errors_become_provider_errors(provider, lam, function, health):
    with pytest.raises(ProviderError) as err:
        provider.deploy(release("no-such-function", "1.0.0", health))
    assert "ResourceNotFoundException" in err.value.reason and "no-such-function" in err.value.reason

    p = provider.deploy(release(function, "1.0.0", health))
    d = {
        **p.details,
        "revisions": {**p.details["revisions"], "42": {"version": "x", "replicas": 1, "weight": 0}},
    }
    with pytest.raises(ProviderError) as err:
        provider.finalize(Placement.from_dict({**p.to_dict(), "details": d}), "42")
    assert err.value.reason.startswith("UpdateAlias: ResourceNotFoundException: ")


def test_a_missing_function_is_not_a_missing_alias(provider, lam, function, health):
    p = provider.deploy(release(function, "1.0.0", health))
    gone = Placement.from_dict({**p.to_dict(), "details": {**p.details, "function_name": "gone"}})
    with pytest.raises(ProviderError) as err:
        provider.shift(gone, {"1": 100})
    assert err.value.reason.startswith("GetAlias: ResourceNotFoundException: Function not found")


def test_unreachable_endpoint_is_a_provider_error(function, health):
    import boto3
    from botocore.config import Config

    dead = boto3.client(
        "lambda", endpoint_url="http://127.0.0.1:9", region_name=REGION, aws_access_key_id="x",
        aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )  # fmt: skip
    with pytest.raises(ProviderError, match="EndpointConnectionError"):
        LambdaProvider(lambda_client=dead).deploy(release(function, "1.0.0", health))


def test_endpoint_from_the_environment(moto, function, health, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # the target's region wins
    provider = LambdaProvider(poll_interval=0.01)
    p = provider.deploy(release(function, "1.0.0", health, region=REGION))
    assert p.details["region"] == REGION and p.details["stable"] == "1"
    provider.close()


def test_import_does_not_load_boto3():
    code = "import sys, pilothouse.providers.aws_lambda; print('boto3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_wiring_names_the_lambda_provider():
    from pilothouse.settings import Settings
    from pilothouse.wiring import build_services

    services = build_services(Settings(store="memory", queue="memory", provider_timeout_seconds=12))
    provider = services.provider("aws-lambda")
    assert isinstance(provider, LambdaProvider) and provider.name == "aws-lambda"
    assert provider.timeout_seconds == 12
    services.close()
