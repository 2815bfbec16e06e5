"""Pilothouse's own functions' metrics, as EMF documents printed through Powertools Metrics.

Every HTTP function records, per invocation, ``Invocations``, ``Errors`` (a 5xx answer) and
``Latency`` (ms) with the dimension ``function``. In Lambda the document is printed on stdout,
where CloudWatch turns it into metrics; on the embedded default (no Lambda around) it is kept in a
bounded buffer that the collection sweep drains and ingests (``functions/collect_metrics``).
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from typing import Any

NAMESPACE = "Pilothouse"
SERVICE = "pilothouse"
#: documents kept for the sweep at most (older ones are dropped first)
BUFFERED = 20_000

_pending: deque[dict[str, Any]] = deque(maxlen=BUFFERED)
_lock = threading.Lock()


def document(function: str, status: int, seconds: float) -> dict[str, Any]:
    """The EMF document of one invocation, as Powertools Metrics serializes it."""
    from aws_lambda_powertools.metrics import MetricUnit
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    emf = AmazonCloudWatchEMFProvider(
        metric_set={}, dimension_set={}, metadata_set={}, namespace=NAMESPACE, service=SERVICE
    )
    emf.add_dimension(name="function", value=function)
    emf.add_metric(name="Invocations", unit=MetricUnit.Count, value=1)
    emf.add_metric(name="Errors", unit=MetricUnit.Count, value=1 if status >= 500 else 0)
    emf.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=round(seconds * 1000, 3))
    return dict(emf.serialize_metric_set())


def record(function: str, status: int, seconds: float) -> None:
    """Emit one invocation's metrics (never raises: metrics must not fail a request)."""
    try:
        doc = document(function, status, seconds)
        if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            print(json.dumps(doc, separators=(",", ":")), flush=True)
        else:
            with _lock:
                _pending.append(doc)
    except Exception:  # noqa: BLE001, S110 - a lost metric is better than a failed request
        pass


def drain() -> list[dict[str, Any]]:
    """Take the buffered documents (the embedded default's collection sweep)."""
    with _lock:
        out = list(_pending)
        _pending.clear()
    return out
