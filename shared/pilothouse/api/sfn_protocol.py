"""The Step Functions API (AWS JSON 1.0) over the embedded engine: the wire and the door.

``pilothouse dev`` routes ``POST /sfn`` here (``endpoint_url="http://127.0.0.1:8080/sfn"`` in boto3
or the AWS CLI). One request is one operation, named by ``X-Amz-Target: AWSStepFunctions.<Op>``;
the body is a JSON object in, a JSON object out (``application/x-amz-json-1.0``); timestamps are
epoch seconds. An error is HTTP 400 (500 for ours) with ``{"__type": "com.amazonaws.states#<Type>",
"message": ...}``, which the SDKs raise as ``client.exceptions.<Type>``.

Who calls (setting ``sfn_auth``):

* ``keys`` (default): the request is signed with SigV4 by an API key. The key is stored hashed, so
  the server cannot know a secret to check a signature against -- unless the key comes with the
  request: it is the *session token* (``X-Amz-Security-Token``, signed with the rest), and the
  *secret access key*; the *access key id* is the key's id (``ph_<id>_...`` → ``<id>``). The token
  is authenticated like a bearer key (hash, revocation, expiry), then the signature is checked with
  it and the date must be within 15 minutes: a request nobody holding the key signed, or one
  changed on the way, is refused. The principal is the key's, with its role.
* ``local``: any well-formed SigV4 signature is accepted (as Step Functions Local does), only while
  the dev server listens on loopback and only from a loopback address; the caller acts as
  ``sfn-local:<access key id>`` with the role ``sfn_local_role``.

Permissions are the HTTP API's (the operations of :mod:`pilothouse.api.workflows`): a viewer can
describe and list, not start or stop. Every mutation is audited under the HTTP operation's name
with the caller and the AWS request id. No secret reaches an answer or a log.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from pilothouse.domain.security import Principal, Role
from pilothouse.errors import PilothouseError, Unauthorized
from pilothouse.runtime import sigv4
from pilothouse.runtime.context import RequestContext, activate, deactivate

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-amz-json-1.0"
TARGET_PREFIX = "AWSStepFunctions."
ERROR_NAMESPACE = "com.amazonaws.states#"
#: a request body at most this large (a 1 MiB definition, escaped, fits)
MAX_BODY_BYTES = 4 * 1024 * 1024
LOOPBACK = ("127.", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.")


class SfnError(Exception):
    """An error as Step Functions reports it: its type (``ExecutionDoesNotExist``...) and message."""

    def __init__(
        self, code: str, message: str, status: int = 400, *, fields: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        #: the error's own members besides the message (``resourceName`` of ResourceNotFound...)
        self.fields = fields or {}


@dataclass(frozen=True)
class Request:
    """One call as the operations see it: who, the parsed body, and the request's context."""

    ctx: RequestContext
    params: dict[str, Any]

    @property
    def principal(self) -> Principal:
        return self.ctx.caller


def answer(status: int, body: dict[str, Any], request_id: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": request_id},
        "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False),
    }


def error_answer(error: SfnError, request_id: str) -> dict[str, Any]:
    body = {"__type": ERROR_NAMESPACE + error.code, "message": error.message, **error.fields}
    out = answer(error.status, body, request_id)
    out["headers"]["x-amzn-ErrorType"] = error.code
    return out


def _raw_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return body.encode("utf-8")


def _parse(raw: bytes) -> dict[str, Any]:
    from pilothouse.jsonbounds import MAX_DEPTH, TooDeep, loads

    if len(raw) > MAX_BODY_BYTES:
        raise SfnError("ValidationException", f"the request body exceeds {MAX_BODY_BYTES} bytes", 413)
    if not raw.strip():
        return {}
    try:
        params = loads(raw)
    except TooDeep:
        raise SfnError("SerializationException", f"the body nests deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError):
        raise SfnError("SerializationException", "the body is not valid JSON") from None
    if not isinstance(params, dict):
        raise SfnError("SerializationException", "the body must be a JSON object")
    return params


def _loopback(address: str | None) -> bool:
    return bool(address) and any(str(address).startswith(p) for p in LOOPBACK)


def _local_name(access_key_id: str) -> str:
    """What a local-mode caller is recorded as: its access key id, unless that is no plain id (an
    API key pasted there by mistake gives only its id; anything else is ``unnamed``)."""
    if access_key_id.startswith("ph_") and access_key_id.count("_") >= 2:
        access_key_id = access_key_id.split("_")[1]
    return access_key_id if access_key_id.isalnum() and len(access_key_id) <= 64 else "unnamed"


def authenticate(services: Any, event: dict[str, Any], raw: bytes, *, hooks: Any) -> Principal:
    """The caller of a signed request (see the module's docstring), or :class:`SfnError`."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    http = (event.get("requestContext") or {}).get("http") or {}
    try:
        auth = sigv4.parse_authorization(headers.get("authorization"))
        token = headers.get("x-amz-security-token")
        settings = services.settings
        if settings.sfn_auth == "local" and not token:
            if not _loopback(http.get("sourceIp")):
                raise SfnError("UnrecognizedClientException", "local authentication answers loopback only")
            sigv4.check_fresh(auth, headers, services.clock.time())
            return Principal(
                id=f"sfn-local:{_local_name(auth.access_key_id)}",
                name="Step Functions local mode",
                role=Role.parse(settings.sfn_local_role),
                kind="sfn-local",
            )
        if not token:
            raise SfnError(
                "UnrecognizedClientException",
                "The security token included in the request is invalid: sign with a Pilothouse API key "
                "(access key id: its id, secret access key and session token: the key)",
            )
        try:
            principal = hooks.authenticate(services, token)
        except Unauthorized:
            raise SfnError(
                "UnrecognizedClientException", "The security token included in the request is invalid."
            ) from None
        if principal.id.removeprefix("key:") != auth.access_key_id.removeprefix("ph_"):
            raise SfnError(
                "UnrecognizedClientException",
                "The access key id does not belong to the key in the security token.",
            )
        sigv4.verify(
            auth,
            token,
            method=http.get("method") or "POST",
            path=event.get("rawPath") or "/",
            query=event.get("rawQueryString") or "",
            headers=headers,
            body=raw,
            now=services.clock.time(),
        )
        return principal
    except sigv4.SignatureError as exc:
        status = 403 if exc.code == "MissingAuthenticationTokenException" else 400
        raise SfnError(exc.code, exc.message, status) from None


def handle(event: dict[str, Any], hooks: Any = None) -> dict[str, Any]:
    """One HTTP API (payload 2.0) event → one Step Functions operation → its answer."""
    from pilothouse.api.sfn_operations import OPERATIONS, run_operation
    from pilothouse.wiring import request_hooks

    hooks = hooks or request_hooks()
    request_id = str(uuid.uuid4())
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    op = None
    services = None
    try:
        method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "POST")
        if method != "POST":
            raise SfnError("UnknownOperationException", "the Step Functions API answers POST only")
        target = headers.get("x-amz-target", "")
        op = OPERATIONS.get(target.removeprefix(TARGET_PREFIX)) if target.startswith(TARGET_PREFIX) else None
        if op is None:
            raise SfnError("UnknownOperationException", f"unknown operation {target[:100]!r}")
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in (CONTENT_TYPE, "application/json"):
            raise SfnError("SerializationException", f"Content-Type must be {CONTENT_TYPE}")
        services = hooks.services()
        raw = _raw_body(event)
        if len(raw) > MAX_BODY_BYTES:  # before anything reads it
            raise SfnError("ValidationException", f"the request body exceeds {MAX_BODY_BYTES} bytes", 413)
        principal = authenticate(services, event, raw, hooks=hooks)
        params = _parse(raw)
    except SfnError as exc:
        if op is not None and op.mutating and services is not None:  # refused callers are audited too
            _audit(hooks, services, "anonymous", op.audit_name, None, request_id, exc.status)
        return error_answer(exc, request_id)
    ctx = RequestContext(
        request_id=request_id, operation=op.audit_name, services=services, principal=principal
    )
    token = activate(ctx)
    status, reason = 200, None
    try:
        body = run_operation(op, Request(ctx, params))
        return answer(200, body, request_id)
    except SfnError as exc:
        status, reason = exc.status, _reason(exc)
        return error_answer(exc, request_id)
    except PilothouseError as exc:  # what the operations do not map themselves
        from pilothouse.api.sfn_params import generic_error

        mapped = generic_error(exc)
        status, reason = mapped.status, _reason(mapped)
        return error_answer(mapped, request_id)
    except Exception:
        log.exception("the Step Functions endpoint failed", extra={"request_id": request_id})
        status, reason = 500, "InternalFailure"
        return error_answer(
            SfnError("InternalFailure", f"an internal error occurred ({request_id})", 500), request_id
        )
    finally:
        deactivate(token)
        if op.mutating:
            _audit(hooks, services, ctx.actor, ctx.operation, ctx.resource, request_id, status, reason)


def _reason(exc: SfnError) -> str:
    """Why a call failed, for its audit record: AWS's error type and the message the caller got."""
    return f"{exc.code}: {exc.message}"[:500]


def _audit(
    hooks: Any,
    services: Any,
    actor: str,
    operation: str,
    resource: str | None,
    request_id: str,
    status: int,
    detail: str | None = None,
) -> None:
    try:
        hooks.audit(
            services,
            principal=actor,
            operation=operation,
            resource=resource,
            request_id=request_id,
            status=status,
            detail=detail,
        )
    except Exception:  # the answer stands; a lost audit record is logged loudly
        log.exception("could not write the audit record", extra={"request_id": request_id})


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda-style handler the dev server mounts at ``POST /sfn``."""
    return handle(event)
