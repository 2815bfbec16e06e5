"""The Step Functions operations on executions (start, start sync, describe, list, history, stop,
redrive) and on task tokens (success, failure, heartbeat).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from pilothouse.api import workflows as wfapi
from pilothouse.api.sfn_aliases import alias_arn, is_alias_arn, parse_alias_arn, version_for_alias
from pilothouse.api.sfn_params import (
    MAX_INPUT_BYTES,
    NAME_CHARS,
    SYNC_TIMEOUT_SECONDS,
    _bool,
    _call,
    _enum,
    _epoch,
    _int,
    _invalid,
    _json,
    _missing,
    _model,
    _need,
    _page,
    _str,
    _valid_name,
    parse_ex_arn,
    parse_sm_arn,
    sm_arn,
)
from pilothouse.api.sfn_protocol import Request, SfnError
from pilothouse.clock import parse_iso
from pilothouse.errors import (
    Conflict,
    NotFound,
)
from pilothouse.services import executions
from pilothouse.services import state_machines as machines

# -- executions ----------------------------------------------------------------------------------


def _target(req: Request) -> tuple[str, str | None]:
    """The state machine ARN a start names (for an alias, the version it picks by its weights) and
    the alias's name (None unless the start named one)."""
    arn = _need(req.params, "stateMachineArn", max_len=2048)
    if not is_alias_arn(arn):
        return arn, None
    return version_for_alias(req, arn), parse_alias_arn(req, arn.split("#", 1)[0])[1]


def _start(req: Request, arn: str, alias: str | None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Start what StartExecution / StartSyncExecution asks (on ``arn``, a state machine or one of its
    versions, which ``alias`` picked if named); the workflow, its record and the execution."""
    from pilothouse.services.workflow_access import is_reserved

    p, services = req.params, req.ctx.services
    workflow, number, case = parse_sm_arn(req, arn, test_case=True)
    name = _str(p, "name", max_len=80) or str(uuid.uuid4())
    if not _valid_name(name):
        raise SfnError("InvalidName", f"Invalid Name: '{name[:100]}' (use {NAME_CHARS})")
    text = _str(p, "input", max_len=MAX_INPUT_BYTES)
    if text is not None and len(text.encode()) > MAX_INPUT_BYTES:  # AWS counts UTF-8 bytes
        raise _invalid(
            "input",
            f"failed to satisfy constraint: Member must have length less than or equal to {MAX_INPUT_BYTES}",
        )
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
    from pilothouse.services.workflow_grants import granting

    with _missing("StateMachineDoesNotExist", missing), granting(services, req.principal):
        body = executions.start(
            services,
            workflow,
            name=name,
            input=payload,
            actor=req.principal.id,
            request_id=req.ctx.request_id,
            version=revision,
            mock_case=case,
            started_with=None if number is None else (number, alias),
        )
    return workflow, meta, body


def start_execution(req: Request) -> dict[str, Any]:
    _, _, body = _start(req, *_target(req))
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
    out.update(_qualifiers(req, d))
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


def _qualifiers(req: Request, d: dict[str, Any]) -> dict[str, str]:
    """``stateMachineVersionArn`` and ``stateMachineAliasArn`` of an execution (or a listing
    entry) as AWS reports them: the version a start named directly or through an alias, and the
    alias; neither for a start on the unqualified state machine ARN."""
    out: dict[str, str] = {}
    if d.get("sm_version") is not None:
        out["stateMachineVersionArn"] = sm_arn(req, d["workflow"], d["sm_version"])
    if d.get("sm_alias"):
        out["stateMachineAliasArn"] = alias_arn(req, d["workflow"], d["sm_alias"])
    return out


def start_sync_execution(req: Request) -> dict[str, Any]:
    services = req.ctx.services
    arn, alias = _target(req)
    workflow, _, _ = parse_sm_arn(req, arn, test_case=True)
    with _missing("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn[:300]}'"):
        services.orchestrator.get_workflow(workflow)
    if machines.get(services, workflow)["type"] != "EXPRESS":
        raise SfnError(
            "StateMachineTypeNotSupported", "This operation is not supported by this type of state machine"
        )
    workflow, _, body = _start(req, arn, alias)
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
    alias = None
    if is_alias_arn(arn):  # AWS lists the executions started through that alias
        workflow, alias = parse_alias_arn(req, arn)
        number = None
    else:
        workflow, number, _ = parse_sm_arn(req, arn)
    status = _enum(
        p, "statusFilter", ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")
    )
    redrive = _enum(p, "redriveFilter", ("REDRIVEN", "NOT_REDRIVEN"))
    limit = _int(p, "maxResults", low=0, high=1000, default=100) or 100
    missing = f"State Machine Does Not Exist: '{arn[:300]}'"
    with _missing("StateMachineDoesNotExist", missing):
        services.orchestrator.get_workflow(workflow)
    if number is not None and machines.version(services, workflow, number) is None:
        raise SfnError("StateMachineDoesNotExist", missing)
    if alias is not None and alias not in machines.get(services, workflow)["aliases"]:
        raise SfnError("StateMachineDoesNotExist", missing)

    def keep(e: dict[str, Any]) -> bool:
        """A version ARN lists the executions started on that version (directly or through an
        alias), an alias ARN those started through the alias, as AWS does."""
        redriven = (e.get("redrive_count") or 0) > 0
        return (
            (number is None or e.get("sm_version") == number)
            and (alias is None or e.get("sm_alias") == alias)
            and (redrive is None or redriven == (redrive == "REDRIVEN"))
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
                **_qualifiers(req, e),
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
