"""Unauthenticated endpoints: liveness and the OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response

import pilothouse
from pilothouse.runtime.context import current
from pilothouse.runtime.http import json_response
from pilothouse.runtime.operations import operation


@operation(summary="Liveness (no auth)", tag="meta", response="Health")
def health() -> dict[str, Any]:
    return {"status": "ok", "version": pilothouse.__version__, "request_id": current().request_id}


@operation(summary="This API's OpenAPI 3.1 document", tag="meta", response="OpenApiDocument")
def openapi() -> Response[dict[str, Any]]:
    return json_response(openapi_document())


_document: dict[str, Any] | None = None

CURSOR = (
    "the next_cursor of the previous page: an opaque string, accepted whenever the server issued it "
    "for this listing (with any page size); any other is a 400"
)


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
        _document = _refine(doc)
    return _document


def path_patterns() -> dict[str, str]:
    """The pattern of each path parameter, by its name: what the server ever names a resource by
    (a value outside it names nothing, and is answered 404)."""
    from pilothouse.api.workflows import EXECUTIONS_OF, NAME
    from pilothouse.domain.components import NAME_PATTERN

    return {
        "name": NAME_PATTERN,  # a component
        "deployment_id": r"^[0-9]{19}-[0-9a-f]{8}$",  # services.components.sortable_id
        "key_id": r"^[A-Za-z0-9-]{1,64}$",  # the <id> of ph_<id>_<secret>
        "workflow": EXECUTIONS_OF,  # a workflow, or a Distributed Map run's children
        "execution": NAME,
        "scope": r"^(component|environment)$",
        "target": NAME_PATTERN,  # a component's or an environment's name
        "backup_id": r"^([0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}|latest)$",  # domain.backups.ID_RE, or latest
        "run_id": r"^[0-9]{15}-[0-9a-f]{8}$",  # repositories.backups.run_id
        "set_name": NAME_PATTERN,  # a shared config set
        "secret_name": NAME_PATTERN,  # a secret
        "environment": r"^(development|staging|production)$",
        "delivery": r"^[0-9]{15}-[0-9a-f]{16}$",  # repositories.notifications.delivery_id
        "source": NAME_PATTERN,  # a webhook source
        "delivery_id": r"^[A-Za-z0-9._:-]{1,128}$",  # a webhook sender's delivery id
    }


def _refine(doc: dict[str, Any]) -> dict[str, Any]:
    """What Powertools' generator does not say: the patterns of path parameters, query parameters
    that are absent rather than null, answers without a body (204); and no trace of its own
    validation error models, which our problems replace."""
    patterns = path_patterns()
    for item in doc.get("paths", {}).values():
        for op in item.values():
            for param in op.get("parameters", []):
                schema = param.get("schema", {})
                if param["in"] == "path":
                    schema["pattern"] = patterns[param["name"]]
                    continue
                if "anyOf" in schema:  # X | None: a query parameter is given, or left out
                    kinds = [s for s in schema.pop("anyOf") if s.get("type") != "null"]
                    schema.update(kinds[0] if len(kinds) == 1 else {"anyOf": kinds})
                if param["name"] == "cursor":
                    param["description"] = CURSOR
            responses = op.get("responses", {})
            for status, response in list(responses.items()):
                if status == "204":
                    response.pop("content", None)
                elif "application/problem+json" not in response.get("content", {}) and int(status) >= 400:
                    del responses[status]  # Powertools' 422 of a route it does not validate
    schemas = doc.get("components", {}).get("schemas", {})
    text = json.dumps(doc.get("paths", {}))
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        if f"#/components/schemas/{unused}" not in text:
            schemas.pop(unused, None)
    return doc


OPERATIONS = [health, openapi]
