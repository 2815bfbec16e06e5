"""Deployment policy endpoints: create, list, get, update, delete and test (dry run)."""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field

from pilothouse.domain.policies import Policy, PolicyMatch
from pilothouse.runtime.context import current
from pilothouse.runtime.http import json_response
from pilothouse.runtime.operations import operation
from pilothouse.services import policies as svc

TAG = "policies"


def _resource(params: dict[str, str]) -> str:
    return f"policy:{params.get('name')}"


class PolicyUpdate(BaseModel):
    """A policy's new definition (its name stays); ``expected_version`` guards against lost updates."""

    model_config = ConfigDict(extra="forbid")
    description: str = Field(default="", max_length=1000)
    match: PolicyMatch = PolicyMatch()
    rule: str = Field(min_length=1, max_length=4000)
    message: str = Field(default="", max_length=500)
    type: Literal["rule", "window"] = "rule"
    mode: Literal["enforce", "audit"] = "enforce"
    expected_version: int | None = Field(default=None, ge=1)


class PolicyTestRequest(BaseModel):
    """Try a policy (or, without one, the stored policies) on hypothetical requests (their facts as
    policies see them) and on the past mutating requests of the audit trail since a day."""

    model_config = ConfigDict(extra="forbid")
    policy: Policy | None = None
    requests: list[dict[str, Any]] = Field(default_factory=list, max_length=100)
    since: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    limit: int = Field(default=500, ge=1, le=5000)


@operation(
    summary="Create a deployment policy",
    tag=TAG,
    status=201,
    resource=lambda p: None,
    response="PolicyAnswer",
)
def create_policy(request: Policy) -> Response[dict[str, Any]]:
    ctx = current()
    ctx.resource = f"policy:{request.name}"
    data = svc.create(ctx.services, request.model_dump(mode="json"), actor=ctx.actor)
    return json_response(data, 201)


@operation(
    summary="List deployment policies (and the built-in freeze policy)", tag=TAG, response="PolicyList"
)
def list_policies() -> dict[str, Any]:
    return {"items": svc.list_policies(current().services)}


@operation(
    summary="A deployment policy, with its version history",
    tag=TAG,
    resource=_resource,
    response="PolicyAnswer",
)
def get_policy(name: str) -> dict[str, Any]:
    return svc.get(current().services, name)


@operation(
    summary="Replace a policy's definition (a new version)",
    tag=TAG,
    resource=_resource,
    response="PolicyAnswer",
)
def update_policy(name: str, request: PolicyUpdate) -> dict[str, Any]:
    ctx = current()
    body = request.model_dump(mode="json", exclude={"expected_version"})
    return svc.update(ctx.services, name, body, actor=ctx.actor, expected_version=request.expected_version)


@operation(summary="Delete a policy (its history is kept)", tag=TAG, status=204, resource=_resource)
def delete_policy(name: str) -> Response[None]:
    ctx = current()
    svc.delete(ctx.services, name, actor=ctx.actor)
    return Response(status_code=204)


@operation(summary="Dry run: which requests a policy would deny", tag=TAG, response="PolicyTestAnswer")
def test_policy(request: PolicyTestRequest) -> dict[str, Any]:
    ctx = current()
    return svc.test(
        ctx.services,
        policy=request.policy.model_dump(mode="json") if request.policy else None,
        requests=request.requests,
        since=request.since,
        limit=request.limit,
    )


OPERATIONS = [create_policy, list_policies, get_policy, update_policy, delete_policy, test_policy]
