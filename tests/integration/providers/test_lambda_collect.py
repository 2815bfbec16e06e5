"""Collecting a Lambda component's CloudWatch metrics (GetMetricData) against a moto server, and the
collection sweep ingesting them (issue 11 §1)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pilothouse.clock import SystemClock
from pilothouse.providers.aws_lambda import LambdaProvider
from pilothouse.providers.base import Placement
from pilothouse.services import metrics
from pilothouse.services.metric_collection import collect_component
from pilothouse.settings import Settings
from pilothouse.wiring import Services


@pytest.fixture
def cw(moto) -> Any:
    return moto.client("cloudwatch")


@pytest.fixture
def provider(moto, cw) -> LambdaProvider:
    # moto's GetMetricData cannot compute percentiles: Maximum stands for p99 here
    return LambdaProvider(
        lambda_client=moto.client("lambda"),
        cloudwatch_client=cw,
        poll_interval=0.01,
        latency_statistic="Maximum",
    )


def _put(cw: Any, metric: str, values: list[float], unit: str, when: datetime) -> None:
    dims = [{"Name": "FunctionName", "Value": "orders-api"}, {"Name": "Resource", "Value": "orders-api:live"}]
    cw.put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {"MetricName": metric, "Dimensions": dims, "Timestamp": when, "Values": values, "Unit": unit}
        ],
    )


PLACEMENT = Placement(
    url=None, version="1.0.0", replicas=1, details={"function_name": "orders-api", "alias": "live"}
)


def test_cloudwatch_minutes_become_datapoints(provider, cw, tmp_path):
    """Given invocations, errors and durations in CloudWatch for the alias, When the sweep collects
    the component, Then requests, errors and duration series hold them, per minute."""
    now = time.time()
    minute = now - now % 60
    when = datetime.fromtimestamp(minute - 30, UTC)
    _put(cw, "Invocations", [10, 20], "Count", when)
    _put(cw, "Errors", [1], "Count", when)
    _put(cw, "Duration", [12.5, 230.0], "Milliseconds", when)
    points = provider.collect_metrics(PLACEMENT, minute - 120, minute)
    by_name = {p["name"]: p for p in points}
    assert by_name["requests"]["value"] == 30.0 and by_name["errors"]["value"] == 1.0
    assert by_name["duration_ms_maximum"]["value"] == 230.0
    assert by_name["requests"]["dimensions"] == {"alias": "live"}

    ctx = Services(
        Settings(store="sqlite", data_dir=tmp_path), SystemClock(), providers={"aws-lambda": provider}
    )
    from tests.support.specs import spec

    from pilothouse.domain.components import ComponentSpec
    from pilothouse.services import components

    components.register(ctx, ComponentSpec.model_validate(spec("orders")), actor="t")  # only known ones
    record = {
        "name": "orders",
        "spec": {"provider": "aws-lambda"},
        "placement": PLACEMENT.to_dict(),
        "url": None,
    }
    assert collect_component(ctx, record, minute)["datapoints"] >= 4
    start = datetime.fromtimestamp(minute, UTC) - timedelta(minutes=3)
    got = metrics.query(
        ctx, "orders", "requests", stat="Sum", period=180, start=start, end=start + timedelta(minutes=3)
    )
    assert got[0].value == 30.0
