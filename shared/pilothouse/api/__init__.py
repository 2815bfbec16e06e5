"""The HTTP operations: thin typed endpoints (parse → one service call → shape the answer).

Each ``functions/<operation>/app.py`` serves one of them; :data:`ALL` lists every one for the
OpenAPI document.
"""

from __future__ import annotations


def all_operations():
    """Every operation (imported on demand: only the OpenAPI function needs them all)."""
    from pilothouse.api import (
        alerts,
        audit,
        backups,
        components,
        config,
        deployments,
        keys,
        meta,
        notifications,
        policies,
        secrets,
        systems,
        webhooks,
        workflows,
    )
    from pilothouse.api import autoscaling as autoscaling_ops
    from pilothouse.api import metrics as metric_ops

    return [
        *meta.OPERATIONS,
        *components.OPERATIONS,
        *keys.OPERATIONS,
        *audit.OPERATIONS,
        *workflows.OPERATIONS,
        *deployments.OPERATIONS,
        *backups.OPERATIONS,
        *config.OPERATIONS,
        *secrets.OPERATIONS,
        *metric_ops.OPERATIONS,
        *autoscaling_ops.OPERATIONS,
        *notifications.OPERATIONS,
        *alerts.OPERATIONS,
        *systems.OPERATIONS,
        *webhooks.OPERATIONS,
        *policies.OPERATIONS,
    ]
