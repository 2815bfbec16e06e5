"""Pilothouse's own functions' metrics, as EMF documents printed through Powertools Metrics.

Every function records, per invocation, ``Invocations``, ``Errors`` and ``Latency`` (ms) with the
dimension ``function``: an HTTP function (an error is a 5xx answer), a queue function (an error is
a batch with a failed record, or one that raised) and a scheduled function (an error is a run that
raised). In Lambda the document is printed on stdout,
where CloudWatch turns it into metrics; on the embedded default (no Lambda around) it is kept in a
bounded buffer that the collection sweep drains and ingests (``functions/collect_metrics``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from typing import Any

NAMESPACE = "Pilothouse"
SERVICE = "pilothouse"
#: documents kept for the sweep at most (older ones are dropped first)
BUFFERED = 20_000

#: (function, failed, seconds, timestamp in ms) of each invocation not yet drained: the document is
#: made when the sweep drains it, not on the request's path
_pending: deque[tuple[str, bool, float, int]] = deque(maxlen=BUFFERED)
_lock = threading.Lock()


#: the metric definitions of every document (Powertools Metrics' units and order)
_METRICS = (
    {"Name": "Invocations", "Unit": "Count"},
    {"Name": "Errors", "Unit": "Count"},
    {"Name": "Latency", "Unit": "Milliseconds"},
)


def document(function: str, status: int, seconds: float) -> dict[str, Any]:
    """The EMF document of one HTTP invocation (a 5xx answer is an error)."""
    return outcome_document(function, status >= 500, seconds)


def outcome_document(
    function: str, failed: bool, seconds: float, timestamp_ms: int | None = None
) -> dict[str, Any]:
    """The EMF document of one invocation, as Powertools Metrics serializes it.

    Written out here rather than built with a Powertools ``AmazonCloudWatchEMFProvider`` per
    invocation (that took a sixth of a warm read's CPU); ``tests/unit/test_emf.py`` checks the two
    give the same document.
    """
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["function", "service"]],
                    "Metrics": [dict(m) for m in _METRICS],
                }
            ],
        },
        "function": function,
        "service": SERVICE,
        "Invocations": [1.0],
        "Errors": [1.0 if failed else 0.0],
        "Latency": [float(round(seconds * 1000, 3))],
    }


def record(function: str, status: int, seconds: float) -> None:
    """Emit one HTTP invocation's metrics (never raises: metrics must not fail a request)."""
    record_outcome(function, status >= 500, seconds)


def record_outcome(function: str, failed: bool, seconds: float) -> None:
    """Emit one invocation's metrics (never raises: metrics must not fail an invocation)."""
    try:
        if _in_lambda():
            doc = outcome_document(function, failed, seconds)
            print(json.dumps(doc, separators=(",", ":")), flush=True)
        else:
            now_ms = int(time.time() * 1000)
            with _lock:
                _pending.append((function, failed, seconds, now_ms))
    except Exception:  # noqa: BLE001, S110 - a lost metric is better than a failed request
        pass


#: the variable Lambda sets in every function's environment, as ``os.environ`` keeps its names
_LAMBDA = "AWS_LAMBDA_FUNCTION_NAME"
_LAMBDA_KEY: Any = os.environ.encodekey(_LAMBDA) if hasattr(os.environ, "encodekey") else _LAMBDA


def _in_lambda() -> bool:
    """Whether this process runs in Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set and not empty), as the
    environment is now. Read from ``os.environ``'s own store where it keeps one: its ``get`` of a
    variable that is not set raises and catches two KeyErrors (~1 µs on every request)."""
    data = getattr(os.environ, "_data", None)
    if isinstance(data, dict):
        return bool(data.get(_LAMBDA_KEY))
    return bool(os.environ.get(_LAMBDA))


def function_name(job: Any) -> str:
    """The name a queue or scheduled function's metrics carry: the folder of the module that
    defines its job (``functions/health_check/app.py`` -> ``health_check``), as the catalogue and
    the HTTP functions name it; the job's own name where it has no file."""
    code = getattr(job, "__code__", None)
    if code is not None and code.co_filename.endswith("app.py"):
        return os.path.basename(os.path.dirname(code.co_filename)) or job.__name__
    return str(getattr(job, "__name__", "function"))


def drain() -> list[dict[str, Any]]:
    """Take the buffered documents (the embedded default's collection sweep)."""
    with _lock:
        taken = list(_pending)
        _pending.clear()
    return [outcome_document(*invocation) for invocation in taken]
