"""A deployment's status (pure, no imports: the CLI shows and filters by these without loading the
models of :mod:`pilothouse.domain.deployments`).

    >>> DeploymentStatus.ROLLED_BACK in FINAL, DeploymentStatus.PAUSED in FINAL
    (True, False)
"""

from __future__ import annotations

from enum import StrEnum


class DeploymentStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    PAUSED = "paused"
    AWAITING_APPROVAL = "awaiting_approval"
    SUCCEEDED = "succeeded"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    ABORTED = "aborted"


#: every status, in the order a deployment may pass through them
STATUSES = tuple(DeploymentStatus)
#: the statuses a deployment ends in
FINAL = frozenset(
    {
        DeploymentStatus.SUCCEEDED,
        DeploymentStatus.ROLLED_BACK,
        DeploymentStatus.FAILED,
        DeploymentStatus.ABORTED,
    }
)
