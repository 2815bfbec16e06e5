"""Secret endpoints: create, list, describe, rotate, delete (issue 13 §2). A value goes in and
never comes out: answers carry names and versions only."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from pilothouse.api import lazy
from pilothouse.runtime.context import current
from pilothouse.runtime.http import json_response
from pilothouse.runtime.operations import operation

TAG = "secrets"


def _resource(params: dict[str, str]) -> str | None:
    return f"secret:{params['secret_name']}" if "secret_name" in params else None


def _value_only_as_text(value: Any) -> Any:
    # the message never repeats the value (a number given as a value is a secret too); the value
    # is then a SecretStr, so no repr (Powertools' debug log of the parameters) shows it
    if not isinstance(value, str):
        raise ValueError("must be a string (quote numbers)")
    return value


class NewSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")
    value: SecretStr = Field(min_length=1, description="write-only: never shown again")
    description: str = Field(default="", max_length=500)

    _text = field_validator("value", mode="before")(_value_only_as_text)


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: SecretStr = Field(min_length=1, description="write-only: never shown again")
    #: redeploy the Running components that reference it (default) or leave them to their next deploy
    redeploy: bool = True

    _text = field_validator("value", mode="before")(_value_only_as_text)


@operation(summary="Create a secret (the value is write-only)", tag=TAG, status=201, response="SecretAnswer")
def create_secret(request: NewSecret) -> Response[dict[str, Any]]:
    from pilothouse.services import secrets

    ctx = current()
    ctx.resource = f"secret:{request.name}"
    body = secrets.create(
        ctx.services,
        request.name,
        request.value.get_secret_value(),
        description=request.description,
        actor=ctx.actor,
    )
    return json_response(body, 201, {"Location": f"/v1/secrets/{request.name}"})


@operation(summary="List secrets (names and versions, never values)", tag=TAG, response="SecretPage")
def list_secrets(
    limit: Annotated[int, lazy.Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, lazy.Query()] = None,
) -> dict[str, Any]:
    from pilothouse.services import secrets

    items, next_cursor = secrets.list_secrets(current().services, limit=limit, cursor=cursor)
    return {"items": items, "next_cursor": next_cursor}


@operation(
    summary="Describe a secret and the versions it keeps",
    tag=TAG,
    resource=_resource,
    response="SecretAnswer",
)
def describe_secret(secret_name: str) -> dict[str, Any]:
    from pilothouse.services import secrets

    return secrets.describe(current().services, secret_name)


@operation(
    summary="Rotate a secret: a new version, and a deployment of each Running component that uses it",
    tag=TAG,
    resource=_resource,
    response="SecretAnswer",
)
def rotate_secret(secret_name: str, request: SecretRotation) -> dict[str, Any]:
    from pilothouse.services import secrets

    ctx = current()
    secrets.check_name(secret_name)
    return secrets.rotate(
        ctx.services,
        secret_name,
        request.value.get_secret_value(),
        actor=ctx.actor,
        request_id=ctx.request_id,
        redeploy=request.redeploy,
    )


@operation(
    summary="Delete a secret (409 while a component's config references it)",
    tag=TAG,
    status=204,
    resource=_resource,
)
def delete_secret(secret_name: str) -> Response[None]:
    from pilothouse.services import secrets

    ctx = current()
    secrets.delete(ctx.services, secret_name, actor=ctx.actor)
    return Response(status_code=204, body=None)


OPERATIONS = [create_secret, list_secrets, describe_secret, rotate_secret, delete_secret]
