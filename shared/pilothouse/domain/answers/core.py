"""The base of every answer model, and the answers every function shares: the problem of a refusal,
the service's health and its OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class OperationAnswer(Answer):
    """The long command a component is carrying out (the plan under ``params._strategy``/``_steps``)."""

    id: str
    command: str
    params: dict[str, Any]
    requested_at: str | None = None
    requested_by: str | None = None
    request_id: str | None = None
    attempt: int = 0
    lease_until: float | None = None


class Health(Answer):
    status: str
    version: str
    request_id: str


class OpenApiDocument(Answer):
    """This document."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


class ProblemField(Answer):
    """What is wrong with one field of the request."""

    field: str
    in_: str | None = Field(default=None, alias="in", description="body, query, path or header")
    message: str
    type: str | None = None


class Problem(Answer):
    """An RFC 9457 problem: every 4xx and 5xx answer, as ``application/problem+json``. Problems may
    carry more members (``required_permission``, ``allowed_commands``, ...)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[ProblemField] | None = None
