"""History events shaped like AWS ``GetExecutionHistory`` output."""

from __future__ import annotations

import json
from typing import Any

from .model import iso

#: event type -> name of its details key
_DETAIL_KEYS = {
    "ExecutionStarted": "executionStartedEventDetails",
    "ExecutionSucceeded": "executionSucceededEventDetails",
    "ExecutionFailed": "executionFailedEventDetails",
    "ExecutionAborted": "executionAbortedEventDetails",
    "ExecutionTimedOut": "executionTimedOutEventDetails",
    "ExecutionRedriven": "executionRedrivenEventDetails",
    "TaskScheduled": "taskScheduledEventDetails",
    "TaskStarted": "taskStartedEventDetails",
    "TaskSucceeded": "taskSucceededEventDetails",
    "TaskFailed": "taskFailedEventDetails",
    "TaskTimedOut": "taskTimedOutEventDetails",
    "EvaluationFailed": "evaluationFailedEventDetails",
    "MapStateStarted": "mapStateStartedEventDetails",
    "MapIterationStarted": "mapIterationStartedEventDetails",
    "MapIterationSucceeded": "mapIterationSucceededEventDetails",
    "MapIterationFailed": "mapIterationFailedEventDetails",
    "MapIterationAborted": "mapIterationAbortedEventDetails",
    "MapRunStarted": "mapRunStartedEventDetails",
    "MapRunFailed": "mapRunFailedEventDetails",
}


#: details keys worked out once per event type (an execution asks for the same few types all along)
_KEY_CACHE: dict[str, str | None] = {}


def details_key(event_type: str) -> str | None:
    """Return the details field name AWS uses for ``event_type``."""
    try:
        return _KEY_CACHE[event_type]
    except KeyError:
        pass
    key: str | None = None
    if event_type in _DETAIL_KEYS:
        key = _DETAIL_KEYS[event_type]
    elif event_type.endswith("StateEntered"):
        key = "stateEnteredEventDetails"
    elif event_type.endswith("StateExited"):
        key = "stateExitedEventDetails"
    if len(_KEY_CACHE) < 512:  # event types are a closed set; never grow without bound
        _KEY_CACHE[event_type] = key
    return key


def dump(value: Any) -> str:
    """Serialize a payload the way history events carry it (JSON text)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def append(
    data: dict,
    event_type: str,
    now: float,
    details: dict | None = None,
    previous: int | None = None,
    *,
    stamp: str | None = None,
) -> int:
    """Append one event to ``data["history"]`` and return its id (``stamp``: ``now`` formatted
    already, by a caller that stamps many events with one time)."""
    history = data["history"]
    event_id = data.get("history_base", 0) + len(history) + 1
    if previous is None:
        previous = history[-1]["id"] if history else 0
    event = {
        "id": event_id,
        "previousEventId": previous,
        "type": event_type,
        "timestamp": stamp if stamp is not None else iso(now),
    }
    key = details_key(event_type)
    if key is not None:
        event[key] = details or {}
    history.append(event)
    return event_id


def count(data: dict) -> int:
    """How many events the execution has recorded, including those already drained."""
    return data.get("history_base", 0) + len(data["history"])


def drain(data: dict) -> list:
    """Return the events recorded since the last drain and drop them from memory.

    The last event stays (ids and ``previousEventId`` continue from it); a durable driver stores
    the drained events elsewhere so the execution state stays small.
    """
    history = data["history"]
    start = data.get("history_undrained", 0)
    new = history[start:]
    if history:
        data["history_base"] = data.get("history_base", 0) + len(history) - 1
        data["history"] = history[-1:]
        data["history_undrained"] = 1
    return new


def resource_parts(resource: str) -> tuple:
    """Split a Task ``Resource`` ARN into AWS's ``(resourceType, resource)``."""
    if resource.startswith("arn:") and ":states:::" in resource:
        rest = resource.split(":states:::", 1)[1]
        if ":" in rest:
            typ, res = rest.split(":", 1)
            return typ, res
        return rest, rest
    parts = resource.split(":")
    if len(parts) >= 3 and parts[0] == "arn":
        return parts[2], resource
    return "task", resource
