"""Unauthenticated endpoints: liveness and the OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response

import pilothouse
from pilothouse.runtime.context import current
from pilothouse.runtime.http import json_response
from pilothouse.runtime.operations import operation


@operation(summary="Liveness (no auth)", tag="meta")
def health() -> dict[str, Any]:
    return {"status": "ok", "version": pilothouse.__version__, "request_id": current().request_id}


@operation(summary="This API's OpenAPI 3.1 document", tag="meta")
def openapi() -> Response[dict[str, Any]]:
    return json_response(openapi_document())


_document: dict[str, Any] | None = None


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of every operation (built once per process)."""
    global _document
    if _document is None:
        from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer

        from pilothouse.api import all_operations
        from pilothouse.runtime.http import build_resolver

        resolver = build_resolver(all_operations(), document=True)
        doc = json.loads(
            resolver.get_openapi_json_schema(
                title="Pilothouse",
                version=pilothouse.__version__,
                summary="Control plane for deploying and operating multi-component systems",
                security_schemes={
                    "ApiKey": APIKey(name="X-Api-Key", in_=APIKeyIn.header),
                    "Bearer": HTTPBearer(),
                },
            )
        )
        _document = doc
    return _document


OPERATIONS = [health, openapi]
