"""Durable workflow executions on the embedded engine (DESIGN §5): the API operations.

Each execution is one record holding the engine's state and a step counter; how steps are applied,
handed over and recovered is :mod:`pilothouse.services.execution_steps`. Callbacks (task tokens),
stop and redrive are steps too.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from typing import Any

from pilothouse.clock import iso
from pilothouse.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from pilothouse.ports import Item
from pilothouse.repositories.execution_bodies import event_chars
from pilothouse.repositories.workflows import ExecutionRepository
from pilothouse.services import workflows
from pilothouse.services.context import ServiceContext
from pilothouse.services.execution_steps import Skip, apply_step, send_followups
from pilothouse.settings import Settings

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


# -- identity ------------------------------------------------------------------------------------


def repo(services: ServiceContext) -> ExecutionRepository:
    return ExecutionRepository(services.store)


def arn(workflow: str, name: str, settings: Settings | None = None) -> str:
    """An execution's ARN, in the region and account of the settings (``sfn_region``, ``sfn_account``)."""
    return f"{arn_prefix(settings)}execution:{workflow}:{name}"


def state_machine_arn(workflow: str, settings: Settings | None = None) -> str:
    return f"{arn_prefix(settings)}stateMachine:{workflow}"


def arn_prefix(settings: Settings | None = None) -> str:
    """``arn:aws:states:<region>:<account>:`` of this control plane's executions."""
    region, account = (
        (settings.sfn_region, settings.sfn_account) if settings else ("us-east-1", "123456789012")
    )
    return f"arn:aws:states:{region}:{account}:"


def token_prefix(workflow: str, name: str) -> str:
    raw = json.dumps([workflow, name], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=") + "."


#: Step Functions' own task tokens are at most 1,024 characters; ours are far shorter
MAX_TOKEN_CHARS = 2048


def parse_token(token: str) -> tuple[str, str]:
    from pilothouse.jsonbounds import loads

    if len(token) > MAX_TOKEN_CHARS:
        raise NotFound("the task token is not valid (TaskDoesNotExist)")
    try:
        head = token.rsplit(".", 1)[0]
        workflow, name = loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)), limit=2)
        return str(workflow), str(name)
    except (ValueError, TypeError):
        raise NotFound("the task token is not valid (TaskDoesNotExist)") from None


# -- reading -------------------------------------------------------------------------------------


def _load(services: ServiceContext, workflow: str, name: str) -> Item:
    return repo(services).require(workflow, name)


def hidden_values(data: dict[str, Any]) -> list[str]:
    """What an execution's answers must not show: its capability token and the task tokens its
    callback tasks wait with (only the task's recipient gets one; a shipped gate's moves through
    the deployment's controls)."""
    from pilothouse.domain.deployments import CAPABILITY_FIELD
    from pilothouse.engine import ExecutionState

    out = []
    if isinstance(data.get("input"), dict) and isinstance(data["input"].get(CAPABILITY_FIELD), str):
        out.append(data["input"][CAPABILITY_FIELD])
    out.extend(t["token"] for t in ExecutionState(data["state"]).outstanding_tasks() if t.get("token"))
    return out


def view(data: dict[str, Any]) -> dict[str, Any]:
    from pilothouse.domain.deployments import redact

    return redact(_view(data), hidden_values(data))


def _view(data: dict[str, Any]) -> dict[str, Any]:
    from pilothouse.engine import ExecutionState

    st = ExecutionState(data["state"])
    return {
        "execution_arn": data["arn"],
        "name": data["name"],
        "workflow": data["workflow"],
        "workflow_version": data["workflow_version"],
        "status": data["status"],
        "input": data["input"],
        "output": data.get("output"),
        "error": data.get("error"),
        "cause": data.get("cause"),
        "start_date": data["start_date"],
        "stop_date": data.get("stop_date"),
        "redrive_count": data.get("redrive_count", 0),
        "sm_version": data.get("sm_version"),
        "sm_alias": data.get("sm_alias"),
        "trusted": bool(data.get("trusted")),
        "step": data["step"],
        "positions": st.positions() if data["status"] == "RUNNING" else [],
        "waiting_tasks": [
            {
                "task_id": t["task_id"],
                "state": t.get("state_name"),
                "resource": t.get("resource"),
                "callback": bool(t.get("token")),
            }
            for t in (st.outstanding_tasks() if data["status"] == "RUNNING" else [])
        ],
    }


def describe(services: ServiceContext, workflow: str, name: str) -> dict[str, Any]:
    return view(_load(services, workflow, name).data)


def list_executions(
    services: ServiceContext,
    workflow: str,
    *,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict], str | None]:
    out: list[dict] = []
    while True:
        page = repo(services).page(workflow, limit=limit, cursor=cursor)
        for item in page.items:
            if status and item.data["status"] != status:
                continue
            d = item.data
            out.append(
                {
                    k: d.get(k)
                    for k in (
                        "arn",
                        "name",
                        "workflow",
                        "workflow_version",
                        "status",
                        "start_date",
                        "stop_date",
                        "redrive_count",
                        "sm_version",
                        "sm_alias",
                    )
                }
            )
        cursor = page.cursor
        if len(out) >= limit or cursor is None:
            return out, cursor


def history(
    services: ServiceContext,
    workflow: str,
    name: str,
    *,
    limit: int = 100,
    cursor: str | None = None,
    reverse: bool = False,
) -> tuple[list[dict], str | None]:
    """At most ``limit`` history events in id order, and the cursor after them; the execution's
    hidden values (:func:`hidden_values`) redacted.

    History is stored a step per item, and a step may hold many events (the states due at once), so
    a cursor names a store cursor and how many events of the steps read from it were given already.
    """
    from pilothouse.domain.deployments import redact

    given, _, store_cursor = (cursor or "0:").partition(":")
    if not given.isdigit() or len(given) > 7:
        raise ValidationFailed.field("cursor", "not a cursor this API gave")
    skip = int(given)
    hidden = hidden_values(_load(services, workflow, name).data)
    events: list[dict] = []
    at: str | None = store_cursor or None
    while True:
        page = repo(services).history(
            workflow, name, limit=max(1, (skip + limit) // 4), cursor=at, reverse=reverse
        )
        for item in page.items:
            step = repo(services).events_of(item)
            events.extend(reversed(step) if reverse else step)
        at = page.cursor
        if len(events) >= skip + limit or at is None:
            break
    chunk = events[skip : skip + limit]
    if skip + limit < len(events):
        after: str | None = f"{skip + limit}:{store_cursor}"
    else:
        after = f"0:{at}" if at is not None else None
    return redact(chunk, hidden), after


# -- API operations ------------------------------------------------------------------------------


#: the largest execution input, as Step Functions measures it (UTF-8 bytes of its compact JSON)
MAX_INPUT_BYTES = 256 * 1024


def start(
    services: ServiceContext,
    workflow: str,
    *,
    name: str | None = None,
    input: Any = None,
    actor: str,
    request_id: str | None = None,
    trusted: bool = False,
    version: int | None = None,
    mock_case: str | None = None,
    started_with: tuple[int, str | None] | None = None,
) -> dict[str, Any]:
    """Start an execution (of the workflow's latest version, or of ``version``). Like Step Functions
    Standard, a name makes it idempotent: the same name and input while it runs returns it;
    otherwise a used name is a 409.

    ``actor`` is recorded as the principal the execution acts for (its public operations run with
    that principal's permissions). ``trusted`` — set by the deployment manager only, never from a
    request — lets a shipped workflow's tasks call the internal task functions.
    ``mock_case`` names a test case of the mock configuration (setting ``sfn_mock_config``): the
    execution's Task states are answered from it instead of being invoked.
    ``started_with``: the published state machine version (and alias, if any) the start named, as
    Step Functions' DescribeExecution and ListExecutions report them (None: the unqualified ARN)."""
    from pilothouse.engine import start as engine_start
    from pilothouse.services.workflow_access import is_reserved

    name = name or new_name()
    if not NAME_RE.match(name):
        raise ValidationFailed.field("name", "1-80 letters, digits, '-' or '_'")
    if trusted and not is_reserved(workflow):
        raise Forbidden(f"only the shipped workflows run trusted; {workflow!r} is not one")
    wf = workflows.get(services, workflow, version)
    payload = {} if input is None else input
    if len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()) > MAX_INPUT_BYTES:
        raise ValidationFailed.field("input", "must not exceed 256 KiB (States.DataLimitExceeded)")
    existing = repo(services).get(workflow, name)
    if existing is not None:
        return _existing(existing.data, payload, name)
    now = services.clock.time()
    st = engine_start(
        wf["definition"],
        payload,
        execution_name=name,
        execution_arn=arn(workflow, name, services.settings),
        state_machine_arn=state_machine_arn(workflow, services.settings),
        now=now,
        state_machine_name=workflow,
        token_prefix=token_prefix(workflow, name),
    )
    events = st.drain_history()
    if started_with is not None:  # as AWS's ExecutionStarted event names them
        details = events[0]["executionStartedEventDetails"]
        details["stateMachineVersionArn"] = (
            f"{state_machine_arn(workflow, services.settings)}:{started_with[0]}"
        )
        if started_with[1]:
            details["stateMachineAliasArn"] = (
                f"{state_machine_arn(workflow, services.settings)}:{started_with[1]}"
            )
    data = {
        "arn": arn(workflow, name, services.settings),
        "name": name,
        "workflow": workflow,
        "workflow_version": wf["version"],
        "status": "RUNNING",
        "step": 0,
        "state": st.data,
        "input": payload,
        "output": None,
        "error": None,
        "cause": None,
        "start_date": iso(now),
        "stop_date": None,
        "redrive_count": 0,
        "updated_epoch": now,
        "resume_at": now,
        "outbox": [],
        "task_leases": {},
        "started_by": actor,
        "request_id": request_id,
        "trusted": trusted,
    }
    data["text_seen"] = event_chars(events)  # a large input makes a watched record
    if mock_case is not None:
        data["mock_case"] = mock_case
    if started_with is not None:
        data["sm_version"], data["sm_alias"] = started_with
    try:
        repo(services).create(data, events)
    except Conflict:
        return _existing(_load(services, workflow, name).data, payload, name)
    send_followups(services, data, now)
    return view(data)


def new_name() -> str:
    """A default execution name (Step Functions uses a UUID too)."""
    return uuid.uuid4().hex


def _existing(data: dict, payload: Any, name: str) -> dict:
    if data["status"] == "RUNNING" and data["input"] == payload:
        return view(data)
    raise Conflict(
        f"an execution named {name!r} exists already (ExecutionAlreadyExists)",
        extra={"field": "name", "execution_arn": data["arn"]},
    )


def stop(
    services: ServiceContext, workflow: str, name: str, *, error: str | None = None, cause: str | None = None
):
    from pilothouse.engine import stop as engine_stop

    def change(st, data, now):
        if data["status"] != "RUNNING":
            raise Skip
        engine_stop(st, error, cause, now=now)

    _load(services, workflow, name)
    apply_step(services, workflow, name, change)
    return describe(services, workflow, name)


def redrive(services: ServiceContext, workflow: str, name: str, *, actor: str | None = None) -> dict:
    """Run a failed execution again from where it failed; from then on its public operations run as
    ``actor`` (who redrove it), not as who started it."""
    from pilothouse.engine import redrive as engine_redrive

    item = _load(services, workflow, name)
    if item.data["status"] not in ("FAILED", "TIMED_OUT", "ABORTED"):
        raise Conflict(
            f"only a failed, timed-out or aborted execution can be redriven; this one is "
            f"{item.data['status']}",
            extra={"status": item.data["status"]},
        )

    def change(st, data, now):
        if data["status"] == "RUNNING":
            raise Skip
        engine_redrive(st, now=now)
        data["status"] = "RUNNING"
        data["redrive_count"] = data.get("redrive_count", 0) + 1
        data["stop_date"] = None
        if actor is not None:
            data["acting_as"] = actor

    apply_step(services, workflow, name, change)
    return describe(services, workflow, name)


def _by_token(services: ServiceContext, token: str) -> tuple[str, str, str]:
    from pilothouse.engine import ExecutionState

    workflow, name = parse_token(token)
    item = repo(services).get(workflow, name)
    task_id = ExecutionState(item.data["state"]).find_task_by_token(token) if item else None
    if task_id is None:
        raise NotFound("no task is waiting for this token (TaskDoesNotExist or TaskTimedOut)")
    return workflow, name, task_id


def send_task_success(services: ServiceContext, token: str, output: Any) -> dict:
    from pilothouse.engine import complete_task

    workflow, name, task_id = _by_token(services, token)
    apply_step(
        services, workflow, name, lambda st, data, now: complete_task(st, task_id, output=output, now=now)
    )
    return describe(services, workflow, name)


def send_task_failure(services: ServiceContext, token: str, error: str | None, cause: str | None) -> dict:
    from pilothouse.engine import complete_task

    workflow, name, task_id = _by_token(services, token)
    apply_step(
        services,
        workflow,
        name,
        lambda st, data, now: complete_task(
            st, task_id, error=error or "States.TaskFailed", cause=cause, now=now
        ),
    )
    return describe(services, workflow, name)


def send_task_heartbeat(services: ServiceContext, token: str) -> dict:
    from pilothouse.engine import heartbeat

    workflow, name, task_id = _by_token(services, token)
    apply_step(services, workflow, name, lambda st, data, now: heartbeat(st, task_id, now=now))
    return describe(services, workflow, name)


def parse_input(value: Any) -> Any:
    """Inputs may come as JSON text (as StartExecution takes them) or as a value."""
    from pilothouse.jsonbounds import MAX_DEPTH, TooDeep, loads

    if isinstance(value, str):
        try:
            return loads(value)
        except TooDeep:
            raise ValidationFailed.field("input", f"nested deeper than {MAX_DEPTH} levels") from None
        except json.JSONDecodeError:
            raise BadRequest("input is not valid JSON", extra={"field": "input"}) from None
    return value
