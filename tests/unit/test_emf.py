"""The functions' EMF documents are written by hand: they must stay what Powertools Metrics prints."""

from __future__ import annotations

import json

import pytest

from pilothouse.runtime import emf


def _powertools(function: str, status: int, seconds: float) -> dict:
    from aws_lambda_powertools.metrics import MetricUnit
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    provider = AmazonCloudWatchEMFProvider(
        metric_set={}, dimension_set={}, metadata_set={}, namespace=emf.NAMESPACE, service=emf.SERVICE
    )
    provider.add_dimension(name="function", value=function)
    provider.add_metric(name="Invocations", unit=MetricUnit.Count, value=1)
    provider.add_metric(name="Errors", unit=MetricUnit.Count, value=1 if status >= 500 else 0)
    provider.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=round(seconds * 1000, 3))
    return dict(provider.serialize_metric_set())


@pytest.mark.parametrize(("status", "seconds"), [(200, 0.0123456), (304, 0.0), (500, 1.5), (503, 29.9999)])
def test_document_is_what_powertools_metrics_serializes(status, seconds):
    """Given an invocation's function, status and duration, when its EMF document is made, then it
    is Powertools Metrics' document byte for byte (the timestamp aside, which is the time now)."""
    ours = emf.document("get_component_config", status, seconds)
    theirs = _powertools("get_component_config", status, seconds)
    assert abs(ours["_aws"].pop("Timestamp") - theirs["_aws"].pop("Timestamp")) < 5_000
    assert json.dumps(ours) == json.dumps(theirs)


def test_documents_do_not_share_their_parts():
    """Given two documents, when one is changed, then the other is not (nothing shared is mutable)."""
    a = emf.document("f", 200, 0.001)
    b = emf.document("f", 200, 0.001)
    a["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] = "changed"
    assert b["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] == "Invocations"
