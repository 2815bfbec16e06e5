"""The component manager: registration, queries and lifecycle commands (DESIGN §3).

Commands that take time (deploy, update, scale, stop, retry) only move the component into its
transitional state and enqueue a job; :mod:`pilothouse.services.jobs` carries the job out.
"""

from __future__ import annotations

import functools
import itertools
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from pilothouse.clock import iso
from pilothouse.domain.config_schema import check_config
from pilothouse.domain.lifecycle import Command, State, TransitionError, apply
from pilothouse.domain.pending import PendingCommand
from pilothouse.errors import (
    AlreadyExists,
    Conflict,
    IllegalTransition,
    NotFound,
    ValidationFailed,
    VersionConflict,
)
from pilothouse.ports import Item
from pilothouse.repositories.components import Record
from pilothouse.services import component_views
from pilothouse.services.component_views import _allowed, get, repo, view
from pilothouse.services.context import ServiceContext

if TYPE_CHECKING:  # the spec models load with the endpoints that parse specs, not with every reader
    from pilothouse.domain.components import ComponentSpec

#: what readers see of a component lives in :mod:`~pilothouse.services.component_views` (what a
#: read of one loads); the manager's callers find it here too
SERVING_STATES = component_views.SERVING_STATES
health_view = component_views.health_view


def _event(
    kind: str, *, before: str | None, after: str | None, actor: str, request_id: str | None, **detail
) -> dict:
    return {"type": kind, "from": before, "to": after, "actor": actor, "request_id": request_id, **detail}


def check_version(spec: dict[str, Any], version: str | None, field: str = "version") -> None:
    """422 naming ``field`` when a local target's ``versions`` map exists and lacks ``version``
    (without the map, any version runs the base command)."""
    if version is None or spec.get("provider") != "local":
        return
    known = (spec.get("target") or {}).get("versions") or {}
    if known and version not in known:
        raise ValidationFailed(
            f"{field}: {version!r} is not one of target.versions: {', '.join(sorted(known))}",
            [{"field": field, "message": f"unknown version {version!r}", "known_versions": sorted(known)}],
        )


@functools.lru_cache(maxsize=8)
def _project_base(project_dir: str) -> Path:
    """The project directory resolved, once per setting (a register resolves only its own cwd;
    the launch resolves everything again)."""
    return Path(project_dir).expanduser().resolve()


def _check_cwd(services: ServiceContext, spec: ComponentSpec) -> None:
    if spec.target.get("cwd") is None:
        # the base itself (the project directory, resolved), which is always the first of the
        # settings' cwd_roots: nothing to resolve (the launch confines it again anyway)
        return
    from pilothouse.providers.local.launch import confine_cwd

    # the roots and base a replica's Sandbox gets (Sandbox.from_settings), without its other paths
    settings = services.settings
    base = _project_base(str(settings.project_dir))
    try:
        confine_cwd(spec.target.get("cwd"), settings.cwd_roots, base)
    except ValueError as exc:
        raise ValidationFailed.field("target.cwd", str(exc)) from None


def _check_urls(services: ServiceContext, spec: ComponentSpec) -> None:
    """Spec-named URLs pass the outbound guard's checks (no lookup: names may resolve only later)."""
    from pilothouse.net.outbound import OutboundRefused, check_url

    url = spec.target.get("health_url") if spec.provider == "aws-lambda" else None
    if url:
        sample = url.replace("{revision}", "1").replace("{version}", "1")
        try:
            check_url(sample, services.settings.outbound_policy())
        except OutboundRefused as exc:
            raise ValidationFailed.field("target.health_url", exc.reason) from None


def _port_taken(port: int, holder: str) -> ValidationFailed:
    error = ValidationFailed.field("target.port", f"port {port} is taken by component {holder!r}")
    error.extra["component"] = holder
    return error


def _check_port(services: ServiceContext, spec: ComponentSpec) -> int | None:
    """The stable port a local spec names, if free: not the control plane's, nobody else's."""
    port = spec.target.get("port") if spec.provider == "local" else None
    if port is None:
        return None
    if port == services.settings.control_port:
        raise ValidationFailed.field("target.port", f"port {port} is the control plane's own port")
    for other in repo(services).all():  # components registered before port claims existed too
        theirs = other.data["spec"]
        if other.name != spec.name and theirs["provider"] == "local" and theirs["target"].get("port") == port:
            raise _port_taken(port, other.name)
    return int(port)


def _claim_port(services: ServiceContext, port: int, name: str) -> Item | None:
    """Claim ``port`` for ``name`` (before its record is written), taking over a stale claim: one
    whose holder does not have the port and that is older than the repository's ``CLAIM_GRACE``
    (younger, its holder's registration may be under way). The new claim, or None when ``name``
    holds it already (then it is not this registration's to release)."""
    from pilothouse.repositories.components import CLAIM_GRACE

    for _ in range(5):
        current = repo(services).port_claim(port)
        if current is not None and current.data["component"] == name:
            return None
        if current is not None:
            holder = repo(services).get(current.data["component"])
            if holder is not None and holder.data["spec"]["target"].get("port") == port:
                raise _port_taken(port, holder.name)
            age = services.clock.time() - float(current.data.get("at", 0.0))
            if holder is None and age < CLAIM_GRACE:
                raise _port_taken(port, current.data["component"])
        try:
            return repo(services).claim_port(port, name, current)
        except (AlreadyExists, VersionConflict):
            continue  # claimed meanwhile: judge the new claim
    raise Conflict(f"port {port} is too contended; retry")


def register(
    services: ServiceContext, spec: ComponentSpec, *, actor: str, request_id: str | None = None
) -> dict:
    """Create a component in state Registered (409 if the name is taken; 422 naming the field when
    a version, cwd, URL or port the spec names is not acceptable).

    A stable port is claimed by a conditional write before the record is written (and released
    if the record cannot be), so of two racing registrations of one port exactly one lands."""
    spec_json = spec.model_dump(mode="json")
    check_version(spec_json, spec.version)
    if spec.provider == "local":
        _check_cwd(services, spec)
    _check_urls(services, spec)
    port = _check_port(services, spec)
    now = iso(services.clock.time())
    data = {
        "name": spec.name,
        "spec": spec_json,
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
    claim = _claim_port(services, port, spec.name) if port is not None else None
    try:
        record = repo(services).create(
            data,
            _event(
                "registered",
                before=None,
                after="Registered",
                actor=actor,
                request_id=request_id,
                version=spec.version,
            ),
        )
    except AlreadyExists:
        if claim is not None:
            repo(services).release_port(claim)
        raise AlreadyExists(
            f"a component named {spec.name!r} exists already", extra={"field": "name"}
        ) from None
    return view(record)


def list_components(
    services: ServiceContext,
    *,
    limit: int = 50,
    cursor: str | None = None,
    state: str | None = None,
    environment: str | None = None,
) -> tuple[list[dict], str | None]:
    records, next_cursor = repo(services).list(
        limit=limit, cursor=cursor, state=state, environment=environment
    )
    from pilothouse.services import restoring
    from pilothouse.services.health_view import fresh

    return [view(fresh(services, restoring.seen(services, r))) for r in records], next_cursor


def events(
    services: ServiceContext, name: str, *, limit: int = 50, cursor: str | None = None, newest_first=False
):
    """A component's history; kept after deregistration (404 only if there never was one)."""
    items, next_cursor = repo(services).events(name, limit=limit, cursor=cursor, newest_first=newest_first)
    if not items and cursor is None and repo(services).get(name) is None:
        raise NotFound(f"no component named {name!r}")
    return items, next_cursor


def deregister(services: ServiceContext, name: str, *, actor: str, request_id: str | None = None) -> None:
    record = get(services, name)
    _check(record, Command.DEREGISTER)
    port = record.data["spec"]["target"].get("port") if record.data["spec"]["provider"] == "local" else None
    try:
        repo(services).remove(
            record,
            _event("deregistered", before=record.state, after=None, actor=actor, request_id=request_id),
        )
    except VersionConflict:
        raise VersionConflict(f"component {name!r} changed while deregistering; read it again") from None
    claim = repo(services).port_claim(port) if port is not None else None
    if claim is not None and claim.data["component"] == name:
        repo(services).release_port(claim)  # a crash before it leaves a stale claim, taken over later


def _check(record: Record, command: Command) -> State | None:
    try:
        return apply(State(record.state), command)
    except TransitionError as exc:
        raise IllegalTransition(command.value, exc.state.value, exc.allowed) from None


def _validate_params(record: Record, command: Command, params: dict[str, Any]) -> dict[str, Any]:
    """Check a command's parameters against the component's spec; return what the job needs."""
    spec = record.data["spec"]
    if command in (Command.DEPLOY, Command.UPDATE, Command.RETRY, Command.ROLLBACK):
        # retry and a plain deploy run the spec's version; update and rollback name theirs
        named = command in (Command.UPDATE, Command.ROLLBACK)
        check_version(spec, params.get("version") or (None if named else spec["version"]))
    if command is Command.SCALE:
        low, high = spec["scaling"]["min"], spec["scaling"]["max"]
        if not low <= params["replicas"] <= high:
            raise ValidationFailed.field(
                "replicas", f"must lie between scaling.min {low} and scaling.max {high}"
            )
    if command is Command.UPDATE:
        if params.get("config") is not None:
            try:
                check_config(spec.get("config_schema"), params["config"])
            except ValueError as exc:
                raise ValidationFailed.field("config", str(exc)) from None
        if (
            params.get("version") in (None, record.data.get("version"))
            and params.get("config") in (None, spec["config"])
            and not params.get("secret_rotation")  # a rotated secret: same config, new value
        ):
            raise ValidationFailed.field("version", "nothing to update: same version and config as running")
    return {k: v for k, v in params.items() if v is not None}


def scaled_already(record: Record, replicas: int) -> bool:
    """A Running component with no operation in flight already has ``replicas``: scaling to that
    count changes nothing, so it is answered as it is (200) rather than run as a transition."""
    return (
        record.state == "Running"
        and not record.data.get("operation")
        and not record.data.get("restoring")
        and record.data.get("replicas") == replicas
    )


def command(
    services: ServiceContext,
    name: str,
    cmd: Command,
    params: dict[str, Any] | None = None,
    *,
    actor: str,
    request_id: str | None = None,
    break_glass: bool = False,
    notify_token: str | None = None,
) -> dict:
    """Accept a long command: move to the transitional state, record the operation, enqueue its job.

    Deploy, update and retry become deployments (their strategy is compiled here, so a bad one is
    a 422 now); a freeze of the component or its environment refuses them (409) unless break-glass.
    ``notify_token`` is the task token of a promotion waiting for the deployment's end.
    """
    record = get(services, name)
    for attempt in range(ACCEPT_ATTEMPTS):
        try:
            written, operation_id = _accept(
                services, record, cmd, dict(params or {}), actor, request_id, break_glass, notify_token
            )
            break
        except VersionConflict:
            fresh = repo(services).get(name)
            if attempt + 1 < ACCEPT_ATTEMPTS and fresh is not None and _only_touched(record, fresh):
                record = fresh  # a background write (health, restore marks): accept on the new version
                continue
            state = fresh.state if fresh else None
            raise VersionConflict(
                f"component {name!r} changed while this {cmd.value} was being accepted (now {state}); "
                "read it again",
                extra={"state": state, "allowed_commands": _allowed(state) if state else []},
            ) from None
    enqueue_job(services, name, operation_id)
    return view(written)


#: how often a command is accepted again when a background write (not a command) moved the
#: record's version in between: racing commands still get 409, the loser sees the winner's state
ACCEPT_ATTEMPTS = 3


def _only_touched(before: Record, after: Record) -> bool:
    """True if ``after`` is ``before`` touched by something that is not a command: the same state,
    the same operation (none, or the same one) and the same spec."""
    return (
        after.state == before.state
        and after.data.get("operation") == before.data.get("operation")
        and after.data.get("spec") == before.data.get("spec")
    )


def _accept(
    services: ServiceContext,
    record: Record,
    cmd: Command,
    params: dict[str, Any],
    actor: str,
    request_id: str | None,
    break_glass: bool,
    notify_token: str | None,
) -> tuple[Record, str]:
    """One attempt at :func:`command` on ``record``: the written record and the operation's id
    (VersionConflict if the record moved since it was read)."""
    _check_not_restoring(record)
    new_state = _check(record, cmd)
    assert new_state is not None, "deregister goes through deregister()"
    params = _validate_params(record, cmd, params)
    strategy: dict[str, Any] | None = None
    steps: list[dict[str, Any]] | None = None
    if cmd is Command.RETRY:
        params = _retry_params(record, params)
    if cmd in DEPLOYING_COMMANDS:
        from pilothouse.services import deployments, freezes

        if not break_glass:
            freezes.check_not_frozen(services, record.name, record.data["spec"]["environment"])
        # a retry starts afresh: what the failed attempt left is stopped before it deploys
        planned = {**record.data, "placement": None} if cmd is Command.RETRY else record.data
        strategy, steps = deployments.plan_for(planned, params)
        params = {k: v for k, v in params.items() if k != "strategy"}
    now = services.clock.time()
    operation = PendingCommand(
        id=sortable_id(now),
        command=cmd.value,
        params=params,
        **({"strategy": strategy, "steps": steps} if steps is not None else {}),
        **({"notify_token": notify_token} if notify_token is not None else {}),
        requested_at=iso(now),
        requested_epoch=now,
        requested_by=actor,
        request_id=request_id,
        attempt=0,
        lease_until=None,
    )
    data = {**record.data, "state": new_state.value, "operation": operation.stored(), "updated_at": iso(now)}
    written = repo(services).update(
        record,
        data,
        _event(
            f"{cmd.value}.requested",
            before=record.state,
            after=new_state.value,
            actor=actor,
            request_id=request_id,
            params=operation.event_params(),
            operation_id=operation.id,
        ),
    )
    return written, operation.id


def _check_not_restoring(record: Record) -> None:
    """409 (with Retry-After) while a control-plane restart is still bringing the component back:
    answering at once lets the caller retry in a moment, where waiting would hold the request for
    as long as the component's health checks take."""
    if record.data.get("restoring"):
        raise Conflict(
            f"component {record.name!r} is being restored after a control-plane restart; retry shortly",
            extra={"state": record.state, "restoring": True},
            headers={"Retry-After": "2"},
        )


def _retry_params(record: Record, params: dict[str, Any]) -> dict[str, Any]:
    """A retry goes back to the component's last good version -- the last one that was Running
    and healthy, with its config -- not to whatever a failed update or rollback left recorded.
    Without one (it never ran) it deploys the spec's version, as before."""
    good = record.data.get("last_good") or {}
    if params.get("version") or not good.get("version"):
        return params
    out = {**params, "version": good["version"]}
    if good.get("config") is not None and good["config"] != record.data["spec"]["config"]:
        out["config"] = good["config"]
    return out


DEPLOYING_COMMANDS = frozenset({Command.DEPLOY, Command.UPDATE, Command.RETRY, Command.ROLLBACK})


_sequence = itertools.count()


def sortable_id(now: float) -> str:
    """An id that sorts by creation time (ms, then a per-process sequence), with a random tail."""
    return f"{int(now * 1000):013d}{next(_sequence) % 1_000_000:06d}-{uuid.uuid4().hex[:8]}"


def enqueue_job(services: ServiceContext, name: str, operation_id: str) -> None:
    services.queue.send(
        services.settings.jobs_queue, json.dumps({"component": name, "operation_id": operation_id})
    )


def parse_spec(payload: Any) -> ComponentSpec:
    """A spec from decoded JSON/YAML, with 422 naming the offending fields."""
    from pilothouse.domain.components import ComponentSpec

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
