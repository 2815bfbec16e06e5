"""Component records as the repository stores them, for tests that write through
:class:`~pilothouse.repositories.components.ComponentRepository` directly."""

from __future__ import annotations

from typing import Any

#: the smallest event a component write carries
EVENT: dict[str, Any] = {"type": "t", "from": None, "to": "Registered", "actor": "t"}


def record(name: str, *, op: str | None = None, state: str | None = None) -> dict[str, Any]:
    """A component record: Deploying with operation ``op`` when given, else Registered."""
    return {
        "name": name,
        "spec": {
            "name": name,
            "provider": "local",
            "environment": "development",
            "version": "1.0.0",
            "target": {"command": ["x"]},
            "scaling": {"min": 1, "max": 1, "replicas": None},
            "config": {},
        },
        "state": state or ("Deploying" if op else "Registered"),
        "version": None,
        "replicas": 0,
        "url": None,
        "placement": None,
        "last_error": None,
        "operation": (
            {"id": op, "command": "deploy", "params": {}, "requested_epoch": 0.0, "attempt": 0}
            if op
            else None
        ),
        "created_at": "1970-01-01T00:00:00Z",
        "updated_at": "1970-01-01T00:00:00Z",
        "created_by": "t",
    }
