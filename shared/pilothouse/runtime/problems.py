"""Problems (RFC 9457) as HTTP functions answer them: the answer of an error, a validation error in
the words of the mistake, a body refused before anything parses it, and why a call failed for its
audit record."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from pilothouse.errors import PayloadTooLarge, PilothouseError, UnsupportedMediaType, ValidationFailed
from pilothouse.jsonbounds import MAX_DEPTH, depth_exceeds
from pilothouse.settings import get_settings

PROBLEM_JSON = "application/problem+json"


def problem_response(error: PilothouseError, *, request_id: str, instance: str | None = None) -> Response:
    return Response(
        status_code=error.status,
        content_type=PROBLEM_JSON,
        body=json.dumps(error.problem(instance=instance, request_id=request_id)),
        headers=dict(error.headers),
    )


def _message(error: dict[str, Any], field_name: str) -> str:
    """A validation error in the words of the mistake people make: a key the model does not know is
    named as unknown; a number where text belongs (YAML's ``version: 1.0``) says to quote it."""
    kind, message = error.get("type"), str(error.get("msg", "")).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return f"unknown key {field_name.rsplit('.', 1)[-1]!r}: no such field here (a typo?)"
    value = error.get("input")
    if kind == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
        return f"must be a string, and YAML read {value} as a number: put the value in quotes"
    return message


def validation_problem(exc: RequestValidationError) -> ValidationFailed:
    """Powertools' validation errors as our 422 with the offending fields."""
    errors = []
    for e in exc.errors():
        loc = list(e.get("loc", ()))
        source = loc.pop(0) if loc and loc[0] in ("body", "query", "path", "header") else "body"
        field_name = ".".join(str(p) for p in loc) or source
        errors.append(
            {"field": field_name, "in": source, "message": _message(e, field_name), "type": e.get("type")}
        )
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]) or "the request is not valid"
    return ValidationFailed(summary, errors)


def failure_reason(response: Response) -> str | None:
    """Why a call failed, for its audit record: the problem's title and detail (texts the caller
    was shown, which name fields and never echo values), at most 500 characters."""
    if response.status_code < 400 or not isinstance(response.body, (str, bytes)):
        return None
    try:
        problem = json.loads(response.body)
    except ValueError:
        return None
    if not isinstance(problem, dict):
        return None
    reason = ": ".join(str(problem[k]) for k in ("title", "detail") if problem.get(k))
    return reason[:500] or None


def body_problem(event: dict) -> PilothouseError | None:
    """A body too large or nested too deep to parse safely, as the problem to answer, or None.

    Checked on the raw text before Powertools or pydantic parse anything, so it holds behind API
    Gateway as well as on the local gateway.
    """
    body = event.get("body") if isinstance(event, dict) else None
    if not body:
        return None
    content_type = ""
    for key, value in (event.get("headers") or {}).items():  # the first spelling, in any case
        if key.lower() == "content-type":
            content_type = str(value)
            break
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type and media_type != "application/json":
        return UnsupportedMediaType(
            f"the body must be JSON (Content-Type: application/json), not {media_type[:100]}",
            extra={"field": "Content-Type"},
        )
    limit = get_settings().max_body_bytes
    size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body)
    if size > limit:
        return PayloadTooLarge(f"the body exceeds {limit} bytes", extra={"field": "body", "limit": limit})
    if not event.get("isBase64Encoded") and depth_exceeds(body, MAX_DEPTH):
        return ValidationFailed(
            f"the body nests deeper than {MAX_DEPTH} levels",
            [
                {
                    "field": "body",
                    "in": "body",
                    "message": f"nested deeper than {MAX_DEPTH} levels",
                    "type": "json_too_deep",
                }
            ],
        )
    return None
