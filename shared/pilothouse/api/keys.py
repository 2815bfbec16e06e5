"""API key endpoints (admin)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field

from pilothouse.api import lazy
from pilothouse.runtime.context import current
from pilothouse.runtime.http import json_response
from pilothouse.runtime.operations import operation
from pilothouse.services import keys as svc

TAG = "security"


class CreateKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    role: str = Field(pattern="^(viewer|operator|deployer|admin)$")
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
    permissions: list[Literal["deployments:approve"]] = Field(
        default_factory=list, description="grants beyond the role"
    )
    environments: list[Literal["development", "staging", "production"]] = Field(
        default_factory=list, description="limit approvals to these environments"
    )


@operation(
    summary="Create an API key (secret shown once)",
    tag=TAG,
    status=201,
    secret_fields=("key",),
    response="NewApiKeyAnswer",
)
def create_api_key(request: CreateKeyRequest) -> Response[dict[str, Any]]:
    ctx = current()
    secret, record = svc.create_key(
        ctx.services,
        name=request.name,
        role=request.role,
        created_by=ctx.actor,
        expires_in_days=request.expires_in_days,
        permissions=request.permissions,
        environments=request.environments,
    )
    ctx.resource = f"api-key:{record['id']}"
    return json_response({**record, "key": secret}, 201)


@operation(summary="List API keys", tag=TAG, response="ApiKeyPage")
def list_api_keys(
    limit: Annotated[int, lazy.Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, lazy.Query()] = None,
) -> dict[str, Any]:
    items, next_cursor = svc.list_keys(current().services, limit=limit, cursor=cursor)
    return {"items": items, "next_cursor": next_cursor}


@operation(
    summary="Revoke an API key",
    tag=TAG,
    resource=lambda p: f"api-key:{p.get('key_id')}",
    response="ApiKeyAnswer",
)
def revoke_api_key(key_id: str) -> dict[str, Any]:
    return svc.revoke_key(current().services, key_id)


OPERATIONS = [create_api_key, list_api_keys, revoke_api_key]
