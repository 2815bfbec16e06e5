"""The Step Functions operations of the ``/sfn`` endpoint, each on the embedded engine's services.

Each operation checks its parameters as Step Functions does (``ValidationException``,
``InvalidArn``, ``InvalidName``...), checks the caller's permission (the one the HTTP API's
operation of the same meaning declares), then does the work through the HTTP API's endpoint
functions where there is one (so the reserved-workflow rules hold here too) and shapes the answer
with Step Functions' member names. ARNs read ``arn:aws:states:<region>:<account>:stateMachine:<name>``
(``:<version>`` for a published version) and ``...:execution:<state machine>:<name>``, with the
region and account of the settings ``sfn_region`` and ``sfn_account``.

A workflow's own versions are what Step Functions calls revisions (``revisionId``);
``PublishStateMachineVersion`` numbers them (:mod:`pilothouse.services.state_machines`).
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from pilothouse.api import workflows as wfapi
from pilothouse.api.sfn_protocol import Request, SfnError
from pilothouse.clock import parse_iso
from pilothouse.domain.security import Permission
from pilothouse.errors import (
    AlreadyExists,
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
from pilothouse.services import state_machines as machines

NAME_CHARS = "letters, digits, '-' or '_' (1-80 characters)"
#: how long StartSyncExecution waits for an Express execution (Step Functions: 5 minutes)
SYNC_TIMEOUT_SECONDS = 300.0
MAX_INPUT_BYTES = 256 * 1024


@dataclass(frozen=True)
class SfnOperation:
    name: str
    permission: Permission
    mutating: bool
    #: the HTTP API operation of the same meaning: the audit record's ``operation``
    audit_name: str
    run: Callable[[Request], dict[str, Any]]


def run_operation(op: SfnOperation, req: Request) -> dict[str, Any]:
    principal = req.principal
    if not principal.can(op.permission):
        raise SfnError(
            "AccessDeniedException",
            f"{principal.id} ({principal.role.label}) is not authorized to perform states:{op.name}: "
            f"it needs the {op.permission.value} permission",
        )
    return op.run(req)


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
                "StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn[:300]}' (no aliases here)"
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


# -- state machines ------------------------------------------------------------------------------


def _publish(req: Request, name: str, revision: int, description: str | None) -> str:
    services = req.ctx.services
    entry = machines.publish(services, name, revision, description=description, now=services.clock.time())
    return sm_arn(req, name, entry["version"])


def create_state_machine(req: Request) -> dict[str, Any]:
    p, services = req.params, req.ctx.services
    name = _need(p, "name", max_len=80)
    definition = _need(p, "definition", max_len=1024 * 1024)
    role = _need(p, "roleArn", max_len=256)
    kind = _enum(p, "type", ("STANDARD", "EXPRESS"), "STANDARD")
    logging, tracing = _object(p, "loggingConfiguration"), _object(p, "tracingConfiguration")
    description = _str(p, "versionDescription", max_len=256)
    if not _valid_name(name):
        raise SfnError("InvalidName", f"Invalid Name: '{name[:100]}' (use {NAME_CHARS})")
    req.ctx.resource = f"workflow:{name}"
    fields: dict[str, Any] = {"type": kind, "role_arn": role}
    if logging is not None:
        fields["logging"] = logging
    if tracing is not None:
        fields["tracing"] = tracing
    try:
        body = _call(wfapi.create_workflow, _model(wfapi.CreateWorkflow, name=name, definition=definition))
    except AlreadyExists:
        existing = services.orchestrator.get_workflow(name)
        meta = machines.get(services, name)
        if _same_definition(definition, existing["definition"]) and (meta["type"], meta["role_arn"]) == (
            kind,
            role,
        ):
            return {"stateMachineArn": sm_arn(req, name), "creationDate": _epoch(existing["created_at"])}
        raise SfnError(
            "StateMachineAlreadyExists", f"State Machine Already Exists: '{sm_arn(req, name)}'"
        ) from None
    except ValidationFailed as exc:
        raise SfnError("InvalidDefinition", f"Invalid State Machine Definition: '{exc.detail}'") from None
    machines.record_new(services, name, fields)
    out: dict[str, Any] = {"stateMachineArn": sm_arn(req, name), "creationDate": _epoch(body["created_at"])}
    if _bool(p, "publish"):
        out["stateMachineVersionArn"] = _publish(req, name, body["version"], description)
    return out


def describe_state_machine(req: Request) -> dict[str, Any]:
    services = req.ctx.services
    arn = _need(req.params, "stateMachineArn", max_len=2048)
    name, number, _ = parse_sm_arn(req, arn)
    missing = f"State Machine Does Not Exist: '{arn[:300]}'"
    with _missing("StateMachineDoesNotExist", missing):
        latest = services.orchestrator.get_workflow(name)
        meta = machines.get(services, name)
        version = None
        if number is not None:
            version = machines.version(services, name, number)
            if version is None:
                raise SfnError("StateMachineDoesNotExist", missing)
        wf = services.orchestrator.get_workflow(name, version["revision"]) if version else latest
    out = {
        "stateMachineArn": sm_arn(req, name, number),
        "name": name,
        "status": "ACTIVE",
        "definition": json.dumps(wf["definition"]),
        "roleArn": _role(req, meta),
        "type": meta["type"],
        "creationDate": version["created_epoch"] if version else _epoch(latest["created_at"]),
        "loggingConfiguration": meta["logging"],
        "tracingConfiguration": meta["tracing"],
        "revisionId": str(wf["version"]),
    }
    description = version["description"] if version else wf.get("description")
    if description:
        out["description"] = description
    return out


def list_state_machines(req: Request) -> dict[str, Any]:
    services = req.ctx.services
    limit = _int(req.params, "maxResults", low=0, high=1000, default=100) or 100
    items, token = _page(
        lambda c, n: services.orchestrator.list_workflows(limit=n, cursor=c),
        limit,
        _str(req.params, "nextToken", max_len=3096),
    )
    return {
        "stateMachines": [
            {
                "stateMachineArn": sm_arn(req, w["name"]),
                "name": w["name"],
                "type": machines.get(services, w["name"])["type"],
                "creationDate": _epoch(w["created_at"]),
            }
            for w in items
        ],
        **({"nextToken": token} if token else {}),
    }


def update_state_machine(req: Request) -> dict[str, Any]:
    p, services = req.params, req.ctx.services
    arn = _need(p, "stateMachineArn", max_len=2048)
    name, number, _ = parse_sm_arn(req, arn)
    if number is not None:
        raise SfnError(
            "ValidationException", "a published version cannot be updated; update the state machine"
        )
    definition = _str(p, "definition", max_len=1024 * 1024)
    role = _str(p, "roleArn", max_len=256)
    logging, tracing = _object(p, "loggingConfiguration"), _object(p, "tracingConfiguration")
    if definition is None and role is None and logging is None and tracing is None:
        raise SfnError(
            "MissingRequiredParameter",
            "Either the definition, the role ARN, the LoggingConfiguration, or the TracingConfiguration must "
            "be specified",
        )
    req.ctx.resource = f"workflow:{name}"
    with _missing("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn[:300]}'"):
        body = services.orchestrator.get_workflow(name)
        if definition is not None:
            try:
                body = _call(wfapi.update_workflow, name, _model(wfapi.UpdateWorkflow, definition=definition))
            except ValidationFailed as exc:
                raise SfnError(
                    "InvalidDefinition", f"Invalid State Machine Definition: '{exc.detail}'"
                ) from None
    changes = {
        k: v for k, v in (("role_arn", role), ("logging", logging), ("tracing", tracing)) if v is not None
    }
    if changes:
        machines.change(services, name, changes)
    when = _epoch(body.get("updated_at")) if definition is not None else None
    out: dict[str, Any] = {"updateDate": when or services.clock.time()}
    out["revisionId"] = str(body["version"])
    if _bool(p, "publish"):
        out["stateMachineVersionArn"] = _publish(
            req, name, body["version"], _str(p, "versionDescription", max_len=256)
        )
    return out


def delete_state_machine(req: Request) -> dict[str, Any]:
    arn = _need(req.params, "stateMachineArn", max_len=2048)
    name, number, _ = parse_sm_arn(req, arn)
    if number is not None:
        raise SfnError("ValidationException", "use DeleteStateMachineVersion for a version (not served here)")
    req.ctx.resource = f"workflow:{name}"
    with contextlib.suppress(NotFound):  # Step Functions answers success for a missing one
        _call(wfapi.delete_workflow, name)
    machines.forget(req.ctx.services, name)
    return {}


def publish_state_machine_version(req: Request) -> dict[str, Any]:
    p, services = req.params, req.ctx.services
    arn = _need(p, "stateMachineArn", max_len=2048)
    name, number, _ = parse_sm_arn(req, arn)
    if number is not None:
        raise SfnError("ValidationException", "publish the state machine, not one of its versions")
    revision_id = _str(p, "revisionId", max_len=256)
    req.ctx.resource = f"workflow:{name}"
    with _missing("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn[:300]}'"):
        wf = services.orchestrator.get_workflow(name)
    if revision_id is not None and revision_id != str(wf["version"]):
        raise SfnError(
            "ConflictException",
            f"Failed to publish the State Machine version for revision {revision_id[:50]}. The current State "
            f"Machine revision is {wf['version']}.",
        )
    entry = machines.publish(
        services,
        name,
        wf["version"],
        description=_str(p, "description", max_len=256),
        now=services.clock.time(),
    )
    return {
        "creationDate": entry["created_epoch"],
        "stateMachineVersionArn": sm_arn(req, name, entry["version"]),
    }


# -- executions ----------------------------------------------------------------------------------


def _start(req: Request) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Start what StartExecution / StartSyncExecution asks; the workflow, its record and the execution."""
    from pilothouse.services.workflow_access import is_reserved

    p, services = req.params, req.ctx.services
    arn = _need(p, "stateMachineArn", max_len=2048)
    workflow, number, case = parse_sm_arn(req, arn, test_case=True)
    name = _str(p, "name", max_len=80) or str(uuid.uuid4())
    if not _valid_name(name):
        raise SfnError("InvalidName", f"Invalid Name: '{name[:100]}' (use {NAME_CHARS})")
    text = _str(p, "input", max_len=MAX_INPUT_BYTES)
    payload = _json(text, "InvalidExecutionInput", "execution input") if text is not None else {}
    missing = f"State Machine Does Not Exist: '{arn[:300]}'"
    with _missing("StateMachineDoesNotExist", missing):
        services.orchestrator.get_workflow(workflow)
    meta = machines.get(services, workflow)
    revision = None
    if number is not None:
        version = machines.version(services, workflow, number)
        if version is None:
            raise SfnError("StateMachineDoesNotExist", missing)
        revision = version["revision"]
    if is_reserved(workflow):
        raise SfnError(
            "AccessDeniedException", f"{workflow} is a shipped workflow: the deployment manager starts it"
        )
    if case is not None:
        from pilothouse.services.execution_mocks import check_case

        check_case(services, workflow, case)
    req.ctx.resource = f"execution:{workflow}/{name}"
    if services.settings.orchestrator != "embedded":
        raise SfnError("ValidationException", "this endpoint serves the embedded engine only")
    with _missing("StateMachineDoesNotExist", missing):
        body = executions.start(
            services,
            workflow,
            name=name,
            input=payload,
            actor=req.principal.id,
            request_id=req.ctx.request_id,
            version=revision,
            mock_case=case,
        )
    return workflow, meta, body


def start_execution(req: Request) -> dict[str, Any]:
    _, _, body = _start(req)
    return {"executionArn": body["execution_arn"], "startDate": _epoch(body["start_date"])}


def _execution(req: Request, d: dict[str, Any], *, data: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "executionArn": d["execution_arn"],
        "stateMachineArn": sm_arn(req, d["workflow"]),
        "name": d["name"],
        "status": d["status"],
        "startDate": _epoch(d["start_date"]),
    }
    if d.get("stop_date"):
        out["stopDate"] = _epoch(d["stop_date"])
    if data:
        out["input"] = json.dumps(d.get("input"))
        out["inputDetails"] = {"included": True}
        if d["status"] == "SUCCEEDED":
            out["output"] = json.dumps(d.get("output"))
            out["outputDetails"] = {"included": True}
    for key, value in (("error", d.get("error")), ("cause", d.get("cause"))):
        if value is not None and d["status"] != "SUCCEEDED":
            out[key] = value
    return out


def start_sync_execution(req: Request) -> dict[str, Any]:
    services = req.ctx.services
    arn = _need(req.params, "stateMachineArn", max_len=2048)
    workflow, _, _ = parse_sm_arn(req, arn, test_case=True)
    with _missing("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn[:300]}'"):
        services.orchestrator.get_workflow(workflow)
    if machines.get(services, workflow)["type"] != "EXPRESS":
        raise SfnError(
            "StateMachineTypeNotSupported", "This operation is not supported by this type of state machine"
        )
    workflow, _, body = _start(req)
    started = time.monotonic()
    delay = 0.002
    d = body
    while d["status"] == "RUNNING":
        if time.monotonic() - started > SYNC_TIMEOUT_SECONDS:
            d = services.orchestrator.stop(
                workflow, body["name"], error="States.Timeout", cause="StartSyncExecution"
            )
            d = {**d, "status": "TIMED_OUT"}
            break
        time.sleep(delay)  # the worker runs the steps; this call only waits for the end
        delay = min(delay * 2, 0.05)
        d = services.orchestrator.describe(workflow, body["name"])
    out = _execution(req, d, data=req.params.get("includedData") != "METADATA_ONLY")
    out.setdefault("stopDate", services.clock.time())
    elapsed = int((out["stopDate"] - out["startDate"]) * 1000)
    out["billingDetails"] = {"billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": max(100, elapsed)}
    return out


def _described(req: Request) -> tuple[str, str, dict[str, Any]]:
    arn = _need(req.params, "executionArn", max_len=2048)
    workflow, name = parse_ex_arn(req, arn)
    with _missing("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn[:300]}'"):
        return workflow, name, req.ctx.services.orchestrator.describe(workflow, name)


def describe_execution(req: Request) -> dict[str, Any]:
    _, _, d = _described(req)
    out = _execution(req, d, data=req.params.get("includedData") != "METADATA_ONLY")
    out["redriveCount"] = d.get("redrive_count", 0)
    redrivable = d["status"] in ("FAILED", "TIMED_OUT", "ABORTED")
    out["redriveStatus"] = "REDRIVABLE" if redrivable else "NOT_REDRIVABLE"
    if not redrivable:
        out["redriveStatusReason"] = (
            "Execution is RUNNING and cannot be redriven"
            if d["status"] == "RUNNING"
            else "Execution is SUCCEEDED and cannot be redriven"
        )
    return out


def list_executions(req: Request) -> dict[str, Any]:
    p, services = req.params, req.ctx.services
    arn = _str(p, "stateMachineArn", max_len=2048)
    if arn is None:
        raise SfnError("ValidationException", "stateMachineArn is required (Map Runs are not served here)")
    workflow, number, _ = parse_sm_arn(req, arn)
    status = _enum(
        p, "statusFilter", ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")
    )
    redrive = _enum(p, "redriveFilter", ("REDRIVEN", "NOT_REDRIVEN"))
    limit = _int(p, "maxResults", low=0, high=1000, default=100) or 100
    with _missing("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn[:300]}'"):
        services.orchestrator.get_workflow(workflow)
    revision = None
    if number is not None:
        version = machines.version(services, workflow, number)
        if version is None:
            raise SfnError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn[:300]}'")
        revision = version["revision"]

    def keep(e: dict[str, Any]) -> bool:
        redriven = (e.get("redrive_count") or 0) > 0
        return (revision is None or e.get("workflow_version") == revision) and (
            redrive is None or redriven == (redrive == "REDRIVEN")
        )

    def fetch(cursor: str | None, n: int) -> tuple[list[Any], str | None]:
        # Step Functions lists the most recent first (``maxResults=1`` is "the latest run"); the
        # store pages by name, so the listing is read whole and sorted, and a token is an offset
        out: list[Any] = []
        after: str | None = None
        while True:
            items, after = services.orchestrator.list_executions(
                workflow, status=status, limit=500, cursor=after
            )
            out += [e for e in items if keep(e)]
            if after is None:
                break
        out.sort(key=lambda e: (e.get("start_date") or "", e.get("name") or ""), reverse=True)
        return out, None

    items, token = _page(fetch, limit, _str(p, "nextToken", max_len=3096))
    return {
        "executions": [
            {
                "executionArn": e["arn"],
                "stateMachineArn": sm_arn(req, workflow),
                "name": e["name"],
                "status": e["status"],
                "startDate": _epoch(e["start_date"]),
                **({"stopDate": _epoch(e["stop_date"])} if e.get("stop_date") else {}),
                "redriveCount": e.get("redrive_count") or 0,
            }
            for e in items
        ],
        **({"nextToken": token} if token else {}),
    }


_DATA_KEYS = ("input", "output", "inputDetails", "outputDetails")


def _event(e: dict[str, Any], with_data: bool) -> dict[str, Any]:
    out = dict(e)
    if isinstance(out.get("timestamp"), str):
        out["timestamp"] = parse_iso(out["timestamp"])
    if not with_data:
        for key, value in out.items():
            if key.endswith("EventDetails") and isinstance(value, dict):
                out[key] = {k: v for k, v in value.items() if k not in _DATA_KEYS}
    return out


def get_execution_history(req: Request) -> dict[str, Any]:
    p, services = req.params, req.ctx.services
    workflow, name, _ = _described(req)
    limit = _int(p, "maxResults", low=0, high=1000, default=100) or 100
    reverse = _bool(p, "reverseOrder")
    with_data = _bool(p, "includeExecutionData", True)
    items, token = _page(
        lambda c, n: services.orchestrator.history(workflow, name, limit=n, cursor=c, reverse=reverse),
        limit,
        _str(p, "nextToken", max_len=3096),
    )
    return {"events": [_event(e, with_data) for e in items], **({"nextToken": token} if token else {})}


def stop_execution(req: Request) -> dict[str, Any]:
    p, services = req.params, req.ctx.services
    error, cause = _str(p, "error", max_len=256), _str(p, "cause", max_len=32768)
    workflow, name, _ = _described(req)
    req.ctx.resource = f"execution:{workflow}/{name}"
    with _missing("ExecutionDoesNotExist", f"Execution Does Not Exist: '{p['executionArn'][:300]}'"):
        d = _call(wfapi.stop_execution, workflow, name, _model(wfapi.StopExecution, error=error, cause=cause))
    return {"stopDate": _epoch(d.get("stop_date")) or services.clock.time()}


def redrive_execution(req: Request) -> dict[str, Any]:
    services = req.ctx.services
    _str(req.params, "clientToken", max_len=64)
    workflow, name, d = _described(req)
    req.ctx.resource = f"execution:{workflow}/{name}"
    if d["status"] not in ("FAILED", "TIMED_OUT", "ABORTED"):
        raise SfnError("ExecutionNotRedrivable", f"Execution is {d['status']} and cannot be redriven")
    try:
        _call(wfapi.redrive_execution, workflow, name)
    except Conflict as exc:
        raise SfnError("ExecutionNotRedrivable", exc.detail) from None
    return {"redriveDate": services.clock.time()}


# -- task tokens ---------------------------------------------------------------------------------


def _task_error(req: Request, token: str) -> SfnError:
    """Why ``token`` answers nothing: not ours at all, or its task is over (timed out, answered)."""
    try:
        workflow, name = executions.parse_token(token)
    except NotFound:
        return SfnError("InvalidToken", "Invalid Token: 'The provided token is not valid'")
    if executions.repo(req.ctx.services).get(workflow, name) is None:
        return SfnError("TaskDoesNotExist", "Task Does Not Exist: 'The provided task does not exist'")
    return SfnError("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")


def _tasked(req: Request, endpoint: Any, model: type, **fields: Any) -> dict[str, Any]:
    token = fields["token"]
    req.ctx.resource = "task-token"
    try:
        _call(endpoint, _model(model, **fields))
    except NotFound:
        raise _task_error(req, token) from None
    return {}


def send_task_success(req: Request) -> dict[str, Any]:
    p = req.params
    token = _need(p, "taskToken", max_len=2048)
    output = _need(p, "output", max_len=MAX_INPUT_BYTES)
    _json(output, "InvalidOutput", "output")
    return _tasked(req, wfapi.send_task_success, wfapi.TaskSuccess, token=token, output=output)


def send_task_failure(req: Request) -> dict[str, Any]:
    p = req.params
    token = _need(p, "taskToken", max_len=2048)
    error, cause = _str(p, "error", max_len=256), _str(p, "cause", max_len=32768)
    return _tasked(req, wfapi.send_task_failure, wfapi.TaskFailure, token=token, error=error, cause=cause)


def send_task_heartbeat(req: Request) -> dict[str, Any]:
    token = _need(req.params, "taskToken", max_len=2048)
    return _tasked(req, wfapi.send_task_heartbeat, wfapi.TaskHeartbeat, token=token)


# -- definitions ---------------------------------------------------------------------------------


def _location(path: str) -> str:
    """``$.States.A.Next`` → ``/States/A/Next`` (as the diagnostics name a place)."""
    return "/" + "/".join(x for x in path.removeprefix("$").split(".") if x)


def validate_state_machine_definition(req: Request) -> dict[str, Any]:
    from pilothouse.services import workflows

    p = req.params
    definition = _need(p, "definition", max_len=1024 * 1024)
    _enum(p, "type", ("STANDARD", "EXPRESS"))
    _enum(p, "severity", ("ERROR", "WARNING"))
    limit = _int(p, "maxResults", low=0, high=100, default=100) or 100
    diagnostics: list[dict[str, Any]] = []
    try:
        parsed = json.loads(definition)
    except ValueError as exc:
        diagnostics.append({"severity": "ERROR", "code": "INVALID_JSON_DESCRIPTION", "message": str(exc)})
    else:
        try:
            workflows.check_definition(definition, settings=req.ctx.services.settings)
        except ValidationFailed as exc:
            for e in exc.errors:
                diagnostics.append(
                    {
                        "severity": "ERROR",
                        "code": "SCHEMA_VALIDATION_FAILED",
                        "message": str(e.get("message", "")),
                        "location": _location(str(e.get("path") or "$")),
                    }
                )
        else:
            # AWS's severity is the lowest level answered: WARNING (its default) answers both
            if p.get("severity", "WARNING") == "WARNING" and isinstance(parsed, dict):
                for w in workflows.definition_warnings(parsed):
                    diagnostics.append(
                        {
                            "severity": "WARNING",
                            "code": "SCHEMA_VALIDATION_WARNING",
                            "message": w["message"],
                            "location": _location(w["path"]),
                        }
                    )
    errors = [d for d in diagnostics if d["severity"] == "ERROR"]
    return {
        "result": "FAIL" if errors else "OK",
        "diagnostics": diagnostics[:limit],
        "truncated": len(diagnostics) > limit,
    }


def test_state(req: Request) -> dict[str, Any]:
    from pilothouse.api.sfn_test_state import test_state as run

    return run(req)


def _op(
    name: str, endpoint: Any, run: Callable[[Request], dict[str, Any]], audit: str | None = None
) -> SfnOperation:
    return SfnOperation(name, endpoint.permission, endpoint.mutating, audit or endpoint.name, run)


OPERATIONS: dict[str, SfnOperation] = {
    op.name: op
    for op in (
        _op("CreateStateMachine", wfapi.create_workflow, create_state_machine),
        _op("UpdateStateMachine", wfapi.update_workflow, update_state_machine),
        _op("DescribeStateMachine", wfapi.get_workflow, describe_state_machine),
        _op("ListStateMachines", wfapi.list_workflows, list_state_machines),
        _op("DeleteStateMachine", wfapi.delete_workflow, delete_state_machine),
        _op(
            "PublishStateMachineVersion",
            wfapi.update_workflow,
            publish_state_machine_version,
            "publish_workflow_version",
        ),
        _op("StartExecution", wfapi.start_execution, start_execution),
        _op("StartSyncExecution", wfapi.start_execution, start_sync_execution),
        _op("DescribeExecution", wfapi.describe_execution, describe_execution),
        _op("ListExecutions", wfapi.list_executions, list_executions),
        _op("GetExecutionHistory", wfapi.execution_history, get_execution_history),
        _op("StopExecution", wfapi.stop_execution, stop_execution),
        _op("RedriveExecution", wfapi.redrive_execution, redrive_execution),
        _op("SendTaskSuccess", wfapi.send_task_success, send_task_success),
        _op("SendTaskFailure", wfapi.send_task_failure, send_task_failure),
        _op("SendTaskHeartbeat", wfapi.send_task_heartbeat, send_task_heartbeat),
        _op("ValidateStateMachineDefinition", wfapi.get_workflow, validate_state_machine_definition),
        SfnOperation("TestState", Permission.EXECUTIONS_RUN, False, "test_state", test_state),
    )
}
