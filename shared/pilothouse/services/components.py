"""The component manager: registration, queries and lifecycle commands (DESIGN §3).

Commands that take time (deploy, update, scale, stop, retry) only move the component into its
transitional state and enqueue a job; :mod:`pilothouse.services.jobs` carries the job out.
"""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

from pydantic import ValidationError

from pilothouse.clock import iso
from pilothouse.domain.components import ComponentSpec, check_config
from pilothouse.domain.lifecycle import Command, State, TransitionError, apply
from pilothouse.errors import IllegalTransition, NotFound, ValidationFailed, VersionConflict
from pilothouse.store.components import ComponentRepository, Record
from pilothouse.wiring import Services


def repo(services: Services) -> ComponentRepository:
    return ComponentRepository(services.store)


def view(record: Record) -> dict[str, Any]:
    """The public shape of a component."""
    d = record.data
    return {
        "name": d["name"],
        "state": d["state"],
        "allowed_commands": _allowed(d["state"]),
        "environment": d["spec"]["environment"],
        "provider": d["spec"]["provider"],
        "version": d.get("version"),
        "replicas": d.get("replicas", 0),
        "url": d.get("url"),
        "last_error": d.get("last_error"),
        "operation": d.get("operation"),
        "spec": d["spec"],
        "placement": d.get("placement"),
        "created_at": d["created_at"],
        "updated_at": d["updated_at"],
        "record_version": record.version,
    }


def _allowed(state: str) -> list[str]:
    from pilothouse.domain.lifecycle import allowed_commands

    return allowed_commands(State(state))


def _event(kind: str, *, before: str | None, after: str | None, actor: str, request_id: str | None, **detail) -> dict:
    return {"type": kind, "from": before, "to": after, "actor": actor, "request_id": request_id, **detail}


def register(services: Services, spec: ComponentSpec, *, actor: str, request_id: str | None = None) -> dict:
    """Create a component in state Registered (409 if the name is taken)."""
    now = iso(services.clock.time())
    data = {
        "name": spec.name,
        "spec": spec.model_dump(mode="json"),
        "state": State.REGISTERED.value,
        "version": None,
        "replicas": 0,
        "url": None,
        "placement": None,
        "last_error": None,
        "operation": None,
        "created_at": now,
        "updated_at": now,
        "created_by": actor,
    }
    from pilothouse.errors import AlreadyExists

    try:
        record = repo(services).create(
            data, _event("registered", before=None, after="Registered", actor=actor, request_id=request_id,
                         version=spec.version)
        )
    except AlreadyExists:
        raise AlreadyExists(f"a component named {spec.name!r} exists already", extra={"field": "name"}) from None
    return view(record)


def get(services: Services, name: str) -> Record:
    record = repo(services).get(name)
    if record is None:
        raise NotFound(f"no component named {name!r}")
    return record


def list_components(
    services: Services,
    *,
    limit: int = 50,
    cursor: str | None = None,
    state: str | None = None,
    environment: str | None = None,
) -> tuple[list[dict], str | None]:
    records, next_cursor = repo(services).list(limit=limit, cursor=cursor, state=state, environment=environment)
    return [view(r) for r in records], next_cursor


def events(services: Services, name: str, *, limit: int = 50, cursor: str | None = None, newest_first=False):
    """A component's history; kept after deregistration (404 only if there never was one)."""
    items, next_cursor = repo(services).events(name, limit=limit, cursor=cursor, newest_first=newest_first)
    if not items and cursor is None and repo(services).get(name) is None:
        raise NotFound(f"no component named {name!r}")
    return items, next_cursor


def deregister(services: Services, name: str, *, actor: str, request_id: str | None = None) -> None:
    record = get(services, name)
    _check(record, Command.DEREGISTER)
    try:
        repo(services).remove(
            record,
            _event("deregistered", before=record.state, after=None, actor=actor, request_id=request_id),
        )
    except VersionConflict:
        raise VersionConflict(f"component {name!r} changed while deregistering; read it again") from None


def _check(record: Record, command: Command) -> State | None:
    try:
        return apply(State(record.state), command)
    except TransitionError as exc:
        raise IllegalTransition(command.value, exc.state.value, exc.allowed) from None


def _validate_params(record: Record, command: Command, params: dict[str, Any]) -> dict[str, Any]:
    """Check a command's parameters against the component's spec; return what the job needs."""
    spec = record.data["spec"]
    if command is Command.SCALE:
        low, high = spec["scaling"]["min"], spec["scaling"]["max"]
        if not low <= params["replicas"] <= high:
            raise ValidationFailed.field("replicas", f"must lie between scaling.min {low} and scaling.max {high}")
    if command is Command.UPDATE:
        if params.get("config") is not None:
            try:
                check_config(spec.get("config_schema"), params["config"])
            except ValueError as exc:
                raise ValidationFailed.field("config", str(exc)) from None
        if params.get("version") in (None, record.data.get("version")) and params.get("config") in (
            None,
            spec["config"],
        ):
            raise ValidationFailed.field("version", "nothing to update: same version and config as running")
    return {k: v for k, v in params.items() if v is not None}


def command(
    services: Services,
    name: str,
    cmd: Command,
    params: dict[str, Any] | None = None,
    *,
    actor: str,
    request_id: str | None = None,
    break_glass: bool = False,
) -> dict:
    """Accept a long command: move to the transitional state, record the operation, enqueue its job.

    Deploy, update and retry become deployments (their strategy is compiled here, so a bad one is
    a 422 now); a freeze of the component or its environment refuses them (409) unless break-glass.
    """
    params = params or {}
    record = get(services, name)
    new_state = _check(record, cmd)
    assert new_state is not None, "deregister goes through deregister()"
    params = _validate_params(record, cmd, params)
    if cmd in DEPLOYING_COMMANDS:
        from pilothouse.services import deployments

        if not break_glass:
            deployments.check_not_frozen(services, name, record.data["spec"]["environment"])
        strategy, steps = deployments.plan_for(record.data, params)
        params = {**{k: v for k, v in params.items() if k != "strategy"}, "_strategy": strategy, "_steps": steps}
    now = services.clock.time()
    operation = {
        "id": sortable_id(now),
        "command": cmd.value,
        "params": params,
        "requested_at": iso(now),
        "requested_epoch": now,
        "requested_by": actor,
        "request_id": request_id,
        "attempt": 0,
        "lease_until": None,
    }
    data = {**record.data, "state": new_state.value, "operation": operation, "updated_at": iso(now)}
    try:
        written = repo(services).update(
            record,
            data,
            _event(f"{cmd.value}.requested", before=record.state, after=new_state.value, actor=actor,
                   request_id=request_id, params=_public(params), operation_id=operation["id"]),
        )
    except VersionConflict:
        now_record = repo(services).get(name)
        state = now_record.state if now_record else None
        raise VersionConflict(
            f"component {name!r} changed while this {cmd.value} was being accepted (now {state}); read it again",
            extra={"state": state, "allowed_commands": _allowed(state) if state else []},
        ) from None
    enqueue_job(services, name, operation["id"])
    return view(written)


def _public(params: dict[str, Any]) -> dict[str, Any]:
    """A command's parameters as its event shows them (the compiled plan stays on the deployment)."""
    out = {k: v for k, v in params.items() if not k.startswith("_")}
    strategy = params.get("_strategy")
    if strategy:
        out["strategy"] = strategy.get("preset") or strategy.get("type")
    return out


DEPLOYING_COMMANDS = frozenset({Command.DEPLOY, Command.UPDATE, Command.RETRY})


_sequence = itertools.count()


def sortable_id(now: float) -> str:
    """An id that sorts by creation time (ms, then a per-process sequence), with a random tail."""
    return f"{int(now * 1000):013d}{next(_sequence) % 1_000_000:06d}-{uuid.uuid4().hex[:8]}"


def enqueue_job(services: Services, name: str, operation_id: str) -> None:
    services.queue.send(
        services.settings.jobs_queue, json.dumps({"component": name, "operation_id": operation_id})
    )


def parse_spec(payload: Any) -> ComponentSpec:
    """A spec from decoded JSON/YAML, with 422 naming the offending fields."""
    try:
        return ComponentSpec.model_validate(payload)
    except ValidationError as exc:
        raise validation_failed(exc) from None


def validation_failed(exc: ValidationError, prefix: tuple = ()) -> ValidationFailed:
    errors = [
        {
            "field": ".".join(str(p) for p in (*prefix, *e["loc"])) or "body",
            "message": e["msg"].removeprefix("Value error, "),
            "type": e["type"],
        }
        for e in exc.errors()
    ]
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return ValidationFailed(summary, errors)
