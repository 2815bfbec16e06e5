"""Helpers shared by the engine conformance tests (importable by name)."""

from __future__ import annotations

from pilothouse.engine import TaskFailure

T0 = 1_700_000_000.0  # a fixed virtual start time


def machine(states: dict, start: str | None = None, **top) -> dict:
    """Build a definition from a States dict (StartAt defaults to the first state)."""
    return {"StartAt": start or next(iter(states)), "States": states, **top}


def echo(resource, payload, ctx):
    """An invoker returning its payload."""
    return payload


def fails_with(error, cause=""):
    """An invoker that always fails."""

    def invoke(resource, payload, ctx):
        raise TaskFailure(error, cause)

    return invoke


def events(result_or_history, *types):
    """Event types of a history, optionally filtered."""
    hist = getattr(result_or_history, "history", result_or_history)
    out = [e["type"] for e in hist]
    return [t for t in out if t in types] if types else out
