"""The Step Functions operations on state machines (create, describe, list, update, delete, publish a
version) and on definitions (validate), over the embedded engine's workflows.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from pilothouse.api import workflows as wfapi
from pilothouse.api.sfn_aliases import MAX_TAGS, parse_tags
from pilothouse.api.sfn_params import (
    NAME_CHARS,
    _bool,
    _call,
    _enum,
    _epoch,
    _int,
    _missing,
    _model,
    _need,
    _object,
    _page,
    _role,
    _same_definition,
    _str,
    _valid_name,
    parse_sm_arn,
    sm_arn,
)
from pilothouse.api.sfn_protocol import Request, SfnError
from pilothouse.errors import (
    AlreadyExists,
    NotFound,
    ValidationFailed,
)
from pilothouse.services import state_machines as machines

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
    tags = parse_tags(p["tags"]) if p.get("tags") is not None else {}
    if len(tags) > MAX_TAGS:
        raise SfnError(
            "TooManyTags", f"a resource has at most {MAX_TAGS} tags", fields={"resourceName": name}
        )
    if not _valid_name(name):
        raise SfnError("InvalidName", f"Invalid Name: '{name[:100]}' (use {NAME_CHARS})")
    req.ctx.resource = f"workflow:{name}"
    fields: dict[str, Any] = {"type": kind, "role_arn": role, "tags": tags}
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
        raise SfnError("ValidationException", "use DeleteStateMachineVersion to delete a version")
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
