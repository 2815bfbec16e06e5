"""What the Step Functions operations share: AWS's error mapping, parameter checks as Step Functions
makes them, ARNs and times, paging tokens, and calls of the HTTP API's endpoints.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import ValidationError

from pilothouse.api.sfn_protocol import Request, SfnError
from pilothouse.clock import parse_iso
from pilothouse.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PilothouseError,
    Unauthorized,
    ValidationFailed,
)
from pilothouse.services import executions

NAME_CHARS = "letters, digits, '-' or '_' (1-80 characters)"
#: how long StartSyncExecution waits for an Express execution (Step Functions: 5 minutes)
SYNC_TIMEOUT_SECONDS = 300.0
MAX_INPUT_BYTES = 256 * 1024


# -- errors --------------------------------------------------------------------------------------


def generic_error(exc: PilothouseError) -> SfnError:
    """A Pilothouse error no operation mapped, as the nearest Step Functions error."""
    field = ""
    if isinstance(exc, ValidationFailed) and exc.errors:
        field = str(exc.errors[0].get("field", ""))
    elif isinstance(exc.extra.get("field"), str):
        field = exc.extra["field"]
    if isinstance(exc, Unauthorized):
        return SfnError("UnrecognizedClientException", exc.detail)
    if isinstance(exc, Forbidden):
        return SfnError("AccessDeniedException", exc.detail)
    if isinstance(exc, ValidationFailed | BadRequest | PayloadTooLarge):
        code = {"definition": "InvalidDefinition", "name": "InvalidName", "input": "InvalidExecutionInput"}
        return SfnError(code.get(field.split(".")[0], "ValidationException"), exc.detail)
    if isinstance(exc, Conflict):
        if "ExecutionAlreadyExists" in exc.detail:
            return SfnError("ExecutionAlreadyExists", exc.detail)
        return SfnError("ConflictException", exc.detail)
    if isinstance(exc, NotFound):
        return SfnError("ResourceNotFound", exc.detail)
    if exc.status >= 500:
        return SfnError("InternalFailure", "an internal error occurred", 500)
    return SfnError("ValidationException", exc.detail)


@contextlib.contextmanager
def _missing(code: str, message: str) -> Iterator[None]:
    """NotFound inside becomes ``code`` (StateMachineDoesNotExist, ExecutionDoesNotExist...)."""
    try:
        yield
    except NotFound:
        raise SfnError(code, message) from None


def _invalid(field: str, message: str) -> SfnError:
    return SfnError("ValidationException", f"1 validation error detected: Value at '{field}' {message}")


# -- parameters ----------------------------------------------------------------------------------


def _str(p: dict, key: str, *, required: bool = False, max_len: int | None = None) -> str | None:
    value = p.get(key)
    if value is None:
        if required:
            raise _invalid(key, "failed to satisfy constraint: Member must not be null")
        return None
    if not isinstance(value, str):
        raise SfnError("SerializationException", f"{key} must be a string")
    if max_len is not None and len(value) > max_len:
        raise _invalid(
            key, f"failed to satisfy constraint: Member must have length less than or equal to {max_len}"
        )
    return value


def _need(p: dict, key: str, *, max_len: int | None = None) -> str:
    value = _str(p, key, required=True, max_len=max_len)
    assert value is not None
    return value


def _int(p: dict, key: str, *, low: int, high: int, default: int) -> int:
    value = p.get(key)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise SfnError("SerializationException", f"{key} must be an integer")
    if not low <= value <= high:
        raise _invalid(key, f"failed to satisfy constraint: Member must be between {low} and {high}")
    return value


def _bool(p: dict, key: str, default: bool = False) -> bool:
    value = p.get(key, default)
    if not isinstance(value, bool):
        raise SfnError("SerializationException", f"{key} must be a boolean")
    return value


def _enum(p: dict, key: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
    value = _str(p, key)
    if value is None:
        return default
    if value not in allowed:
        raise _invalid(
            key, f"failed to satisfy constraint: Member must satisfy enum value set: [{', '.join(allowed)}]"
        )
    return value


def _object(p: dict, key: str) -> dict[str, Any] | None:
    value = p.get(key)
    if value is not None and not isinstance(value, dict):
        raise SfnError("SerializationException", f"{key} must be an object")
    return value


def _json(text: str, code: str, what: str) -> Any:
    from pilothouse.jsonbounds import MAX_DEPTH, TooDeep, loads

    if len(text.encode()) > MAX_INPUT_BYTES:
        raise SfnError(code, f"{what} exceeds {MAX_INPUT_BYTES} bytes (States.DataLimitExceeded)")
    try:
        return loads(text)
    except TooDeep:
        raise SfnError(code, f"Invalid {what}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise SfnError(code, f"Invalid {what}: not valid JSON") from None


def _valid_name(name: str) -> bool:
    return executions.NAME_RE.match(name) is not None


# -- ARNs and times ------------------------------------------------------------------------------


def _prefix(req: Request) -> str:
    return executions.arn_prefix(req.ctx.services.settings)


def sm_arn(req: Request, name: str, version: int | None = None) -> str:
    return f"{_prefix(req)}stateMachine:{name}" + (f":{version}" if version is not None else "")


def ex_arn(req: Request, workflow: str, name: str) -> str:
    return executions.arn(workflow, name, req.ctx.services.settings)


def parse_sm_arn(req: Request, arn: str, *, test_case: bool = False) -> tuple[str, int | None, str | None]:
    """The workflow, published version and (``test_case``) mock test case an ARN names."""
    case = None
    if test_case and "#" in arn:
        arn, case = arn.split("#", 1)
    parts = arn.split(":")
    if len(parts) not in (7, 8) or parts[:3] != ["arn", "aws", "states"] or parts[5] != "stateMachine":
        raise SfnError("InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {arn[:300]}'")
    if f"{':'.join(parts[:5])}:" != _prefix(req) or not _valid_name(parts[6]):
        raise SfnError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn[:300]}'")
    version = None
    if len(parts) == 8:
        if not parts[7].isdigit():  # an alias
            raise SfnError(
                "StateMachineDoesNotExist",
                f"State Machine Does Not Exist: '{arn[:300]}' (this operation takes no alias ARN)",
            )
        version = int(parts[7])
    if case is not None and not case:
        raise SfnError("InvalidArn", "Invalid Arn: the test case after '#' is empty")
    return parts[6], version, case


def parse_ex_arn(req: Request, arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    if len(parts) != 8 or parts[:3] != ["arn", "aws", "states"] or parts[5] not in ("execution", "express"):
        raise SfnError("InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {arn[:300]}'")
    if f"{':'.join(parts[:5])}:" != _prefix(req) or not (_valid_name(parts[6]) and _valid_name(parts[7])):
        raise SfnError("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn[:300]}'")
    return parts[6], parts[7]


def _epoch(value: str | None) -> float | None:
    return parse_iso(value) if value else None


def _role(req: Request, meta: dict[str, Any]) -> str:
    return (
        meta.get("role_arn") or f"arn:aws:iam::{req.ctx.services.settings.sfn_account}:role/pilothouse-local"
    )


# -- paging --------------------------------------------------------------------------------------


def _token(cursor: str | None, skip: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([cursor, skip]).encode()).decode()


def _untoken(token: str | None) -> tuple[str | None, int]:
    if token is None:
        return None, 0
    if not isinstance(token, str) or len(token) > 3096:
        raise SfnError("InvalidToken", "Invalid Token: the nextToken is not one this endpoint gave")
    try:
        cursor, skip = json.loads(base64.urlsafe_b64decode(token.encode()))
        if (cursor is None or isinstance(cursor, str)) and isinstance(skip, int) and skip >= 0:
            return cursor, skip
    except (ValueError, TypeError):
        pass
    raise SfnError("InvalidToken", "Invalid Token: the nextToken is not one this endpoint gave")


def _page(
    fetch: Callable[[str | None, int], tuple[list[Any], str | None]], limit: int, token: str | None
) -> tuple[list[Any], str | None]:
    """At most ``limit`` items from where ``token`` left off. ``fetch(cursor, limit)`` answers a
    batch (maybe more than ``limit``: whole steps of a history) and the cursor after it; a token
    is that cursor and how many of its batch were given out already."""
    cursor, skip = _untoken(token)
    try:
        items, after = fetch(cursor, limit)
    except (BadRequest, ValidationFailed, ValueError):
        raise SfnError("InvalidToken", "Invalid Token: the nextToken is not one this endpoint gave") from None
    chunk = items[skip : skip + limit]
    if skip + limit < len(items):
        return chunk, _token(cursor, skip + limit)
    return chunk, _token(after, 0) if after else None


# -- calling the HTTP API's endpoints ------------------------------------------------------------


def _call(endpoint: Any, *args: Any) -> Any:
    result = endpoint.func(*args)
    return getattr(result, "body", result) if not isinstance(result, dict) else result


def _model(model: type, **fields: Any) -> Any:
    try:
        return model(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(x) for x in first.get("loc", ()))
        raise _invalid(field, f"failed to satisfy constraint: {first.get('msg')}") from None


def _same_definition(given: str, stored: Any) -> bool:
    try:
        return json.loads(given) == stored
    except ValueError:
        return False
