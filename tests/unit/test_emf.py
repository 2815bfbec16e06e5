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


def _sqs_event(*bodies: str) -> dict:
    return {
        "Records": [
            {
                "messageId": f"m-{i}",
                "receiptHandle": f"r-{i}",
                "body": body,
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def _scheduled_event() -> dict:
    return {"source": "aws.events", "resources": ["arn:aws:events:us-east-1:000000000000:rule/r"]}


def test_queue_and_scheduled_functions_emit_invocations_errors_and_latency():
    """Given a queue function whose batch has a failing record and a scheduled function that once
    succeeds and once raises, When they run, Then each invocation leaves one EMF document for its
    function: Errors 1 for the partial batch failure and the raising run, 0 otherwise."""
    from pilothouse.runtime.queue import scheduled_function, sqs_function

    def check_batch(body: str) -> str:
        if body == "bad":
            raise ValueError("refused")
        return body

    runs = iter([None, RuntimeError("down")])

    def sweep_job(event: dict) -> dict:
        outcome = next(runs)
        if outcome is not None:
            raise outcome
        return {"ok": True}

    emf.drain()
    queue_fn, scheduled_fn = sqs_function(check_batch), scheduled_function(sweep_job)
    assert queue_fn(_sqs_event("good"), None) == {"batchItemFailures": []}
    assert queue_fn(_sqs_event("good", "bad"), None) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert scheduled_fn(_scheduled_event(), None) == {"ok": True}
    with pytest.raises(RuntimeError):
        scheduled_fn(_scheduled_event(), None)
    docs = emf.drain()
    got = [(d["function"], d["Invocations"], d["Errors"]) for d in docs]
    assert got == [
        ("check_batch", [1.0], [0.0]),
        ("check_batch", [1.0], [1.0]),
        ("sweep_job", [1.0], [0.0]),
        ("sweep_job", [1.0], [1.0]),
    ]
    assert all(
        d["Latency"][0] >= 0 and d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Pilothouse" for d in docs
    )


@pytest.mark.parametrize("name", ["health_check", "health_sweep", "collect_metrics", "deliver_notifications"])
def test_a_function_is_named_by_its_folder_as_the_catalogue_names_it(name):
    """Given a queue or scheduled function's module, its metrics carry the function's folder name."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"emf_name_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    jobs = [
        v for k, v in vars(module).items() if k.startswith("_") and callable(v) and hasattr(v, "__code__")
    ]
    assert jobs and {emf.function_name(j) for j in jobs} == {name}


def test_in_lambda_follows_the_environment(monkeypatch, capsys):
    """Given no AWS_LAMBDA_FUNCTION_NAME, an invocation's document is buffered for the sweep; set
    (as Lambda sets it), it is printed; set empty, buffered again."""
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    emf.drain()
    emf.record("f", 200, 0.001)
    assert [d["function"] for d in emf.drain()] == ["f"] and capsys.readouterr().out == ""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "pilothouse-f")
    emf.record("f", 200, 0.001)
    assert emf.drain() == [] and json.loads(capsys.readouterr().out)["function"] == "f"
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "")
    emf.record("f", 200, 0.001)
    assert len(emf.drain()) == 1 and capsys.readouterr().out == ""
