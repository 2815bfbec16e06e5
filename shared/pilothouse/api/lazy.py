"""Powertools' parameter declarations (``Query``...), loaded on first use.

Endpoints declare query parameters as ``Annotated[int, lazy.Query(ge=1)]``. Their modules use
postponed annotations, so that text is evaluated only when Powertools first inspects the endpoint
(its first request, or the OpenAPI document); the attribute access then loads
``aws_lambda_powertools.event_handler.openapi.params`` (with Powertools' pydantic compatibility
layer, a good part of a cold start). A function whose endpoint declares no such parameter (the
other endpoints of its module are never routed in it) does not load it at all.
"""

from __future__ import annotations

from typing import Any

_NAMES = frozenset({"Query", "Path", "Header", "Cookie", "Body", "Form", "File"})


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        from aws_lambda_powertools.event_handler.openapi import params

        return getattr(params, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
