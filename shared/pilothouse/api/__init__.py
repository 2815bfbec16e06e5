"""The HTTP operations: thin typed endpoints (parse → one service call → shape the answer).

Each ``functions/<operation>/app.py`` serves one of them; :data:`ALL` lists every one for the
OpenAPI document.
"""

from __future__ import annotations


def all_operations():
    """Every operation (imported on demand: only the OpenAPI function needs them all)."""
    from pilothouse.api import audit, components, deployments, keys, meta, policies, workflows

    return [
        *meta.OPERATIONS,
        *components.OPERATIONS,
        *keys.OPERATIONS,
        *audit.OPERATIONS,
        *workflows.OPERATIONS,
        *deployments.OPERATIONS,
        *policies.OPERATIONS,
    ]
