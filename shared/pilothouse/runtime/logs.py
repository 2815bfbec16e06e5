"""The functions' structured logger, with Lambda-context keys kept per thread.

Powertools' ``inject_lambda_context`` appends the context's keys to the logger's formatter, which is
shared by every function in the process. In Lambda a process runs one event at a time; the embedded
cloud runs many function instances as threads of one process, where those keys would leak between
requests. :func:`with_context` puts the same keys in the formatter's thread-local store instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(service="pilothouse", use_rfc3339=True)


def _context_keys(context: Any) -> dict[str, Any]:
    return {
        "function_name": getattr(context, "function_name", None),
        "function_memory_size": getattr(context, "memory_limit_in_mb", None),
        "function_arn": getattr(context, "invoked_function_arn", None),
        "function_request_id": getattr(context, "aws_request_id", None),
    }


def with_context(
    handler: Callable[[Any, Any], Any], *, correlation_id: Callable[[Any], str | None] | None = None
) -> Callable[[Any, Any], Any]:
    """Wrap a Lambda handler so its log lines carry its own context (and correlation id) only."""

    @functools.wraps(handler)
    def wrapped(event: Any, context: Any) -> Any:
        formatter = logger.registered_formatter  # what the logger's thread-safe key methods call
        formatter.thread_safe_clear_keys()
        keys = _context_keys(context)
        if correlation_id is not None:
            keys["correlation_id"] = correlation_id(event)
        formatter.thread_safe_append_keys(**keys)
        try:
            return handler(event, context)
        finally:
            formatter.thread_safe_clear_keys()

    return wrapped


def request_id_of(event: Any) -> str | None:
    """API Gateway's request id of an HTTP event (the correlation id of HTTP functions)."""
    if isinstance(event, dict):
        return (event.get("requestContext") or {}).get("requestId")
    return None
