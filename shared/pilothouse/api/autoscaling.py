"""Auto scaling endpoints: read, set and disable a component's policy (issue 11 §5)."""

from __future__ import annotations

from typing import Any

from pilothouse.api.component_reads import _resource
from pilothouse.domain.autoscaling import AutoscalePolicy
from pilothouse.runtime.context import current
from pilothouse.runtime.operations import operation
from pilothouse.services import autoscaler as svc

TAG = "autoscaling"


@operation(
    summary="A component's autoscaling policy and its latest decisions",
    tag=TAG,
    resource=_resource,
    response="AutoscalingAnswer",
)
def get_autoscaling(name: str) -> dict[str, Any]:
    return svc.get_policy(current().services, name)


@operation(
    summary="Set a component's autoscaling policy", tag=TAG, resource=_resource, response="AutoscalingAnswer"
)
def set_autoscaling(name: str, policy: AutoscalePolicy) -> dict[str, Any]:
    ctx = current()
    return svc.set_policy(ctx.services, name, policy, actor=ctx.actor)


@operation(
    summary="Disable a component's autoscaling (the policy is kept)",
    tag=TAG,
    resource=_resource,
    response="AutoscalingAnswer",
)
def disable_autoscaling(name: str) -> dict[str, Any]:
    ctx = current()
    return svc.disable(ctx.services, name, actor=ctx.actor)


OPERATIONS = [get_autoscaling, set_autoscaling, disable_autoscaling]
