"""Carrying out a component's long command through its provider, and finishing its transition.

A job message names a component and the id of the operation its command recorded. The job:

1. takes a lease on the operation (a conditional write), so a redelivered or duplicated message
   for an operation that is being carried out, or is already finished, does nothing;
2. a deploy, update or retry starts its deployment (the workflow that carries out its plan, which
   settles the operation when it ends); a scale or stop asks the provider to do the work (blocking
   until done or failed) and
3. writes the outcome with the resting state the lifecycle table gives, plus an event.

A worker that dies mid-job leaves a lapsed lease; :func:`sweep_stalled` re-enqueues such operations.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pilothouse.clock import clock_seconds, iso
from pilothouse.domain.lifecycle import TRANSITIONAL, Command, Outcome, State, complete
from pilothouse.domain.pending import PendingCommand
from pilothouse.errors import ValidationFailed, VersionConflict
from pilothouse.ports import HealthCheck, Placement, ProviderError, ProviderUnavailable, Release
from pilothouse.repositories.components import Record
from pilothouse.services import restoring
from pilothouse.services.components import DEPLOYING_COMMANDS, enqueue_job, repo
from pilothouse.services.context import ServiceContext

log = logging.getLogger(__name__)

STALLED_AFTER_SECONDS = 30.0


def release_for(data: dict[str, Any], *, version: str, config: dict | None = None, replicas: int) -> Release:
    spec = data["spec"]
    hc = spec["health_check"]
    return Release(
        component=data["name"],
        version=version,
        target=spec["target"],
        config=spec["config"] if config is None else config,
        health=HealthCheck(
            path=hc["path"] or "/health",
            interval_seconds=hc["interval_seconds"],
            timeout_seconds=hc["timeout_seconds"],
            healthy_threshold=hc["healthy_threshold"],
            unhealthy_threshold=hc["unhealthy_threshold"],
        ),
        replicas=replicas,
    )


def _bound(services: ServiceContext, data: dict[str, Any], release: Release) -> Release:
    """The release with the secrets its config references (replicas started again need them)."""
    from pilothouse.services import secrets

    return secrets.bind(services, release, data["spec"]["provider"])


def handle_message(services: ServiceContext, body: str) -> str:
    """Run the job a queue message names; return what happened (for logs and tests)."""
    message = json.loads(body)
    if message.get("kind") == "backup-run":  # backups, verifications, restores, drills
        from pilothouse.services.backup_runs import run

        return run(services, message["run_id"])
    if message.get("kind") == "webhook_delivery":  # an inbound webhook's delivery (issue 14)
        from pilothouse.services.webhook_actions import handle

        return handle(services, message)
    return execute(services, message["component"], message["operation_id"])


def _lease(services: ServiceContext, record: Record, operation_id: str) -> Record | None:
    """Take the operation's lease, or None if the job is stale or someone else holds a live lease."""
    op = record.data.get("operation")
    if State(record.state) not in TRANSITIONAL or not op or op["id"] != operation_id:
        return None
    now = services.clock.time()
    if op.get("lease_until") and op["lease_until"] > now:
        return None
    # the lease guards real work (provider calls bounded in real seconds), on any clock's scale
    lease = now + clock_seconds(services.clock, services.settings.provider_timeout_seconds * 2 + 60)
    new_op = {**op, "attempt": op.get("attempt", 0) + 1, "lease_until": lease, "started_at": iso(now)}
    data = {**record.data, "operation": new_op, "updated_at": iso(now)}
    event = {
        "type": f"{op['command']}.started",
        "from": record.state,
        "to": record.state,
        "actor": "system",
        "request_id": op.get("request_id"),
        "operation_id": operation_id,
        "attempt": new_op["attempt"],
    }
    try:
        return repo(services).update(record, data, event)
    except VersionConflict:
        return None


def execute(services: ServiceContext, name: str, operation_id: str) -> str:
    record = repo(services).get(name)
    if record is None:
        return "stale"
    leased = _lease(services, record, operation_id)
    if leased is None:
        return "stale"
    data = leased.data
    op = data["operation"]
    cmd = Command(op["command"])
    params = op.get("params", {})
    if PendingCommand.model_validate(op).runs_as_deployment:
        return _start_deployment(services, leased)
    if cmd in DEPLOYING_COMMANDS:  # stored by a release from before deployments (no plan)
        return _plan_stored_operation(services, leased)
    # scale and stop: the provider carries them out here, no deployment
    current = Placement.from_dict(data["placement"]) if data.get("placement") else None
    placement: Placement | None = current
    error: str | None = None
    logs: list[str] = []
    try:
        provider = services.provider(data["spec"]["provider"])
        if cmd is Command.SCALE:
            assert current is not None
            release = _bound(
                services, data, release_for(data, version=data["version"], replicas=current.replicas)
            )
            placement = provider.scale(current, release, params["replicas"])
        elif cmd is Command.STOP:
            if current is not None:
                provider.stop(current)
            placement = None
        outcome = Outcome.SUCCEEDED
    except ProviderError as exc:
        error, logs = exc.reason, exc.logs
        # a failed scale leaves the current instances serving
        placement = exc.placement if exc.placement is not None or cmd is not Command.SCALE else current
        reverted = placement is not None and cmd is Command.SCALE
        outcome = Outcome.REVERTED if reverted else Outcome.FAILED
    except ProviderUnavailable as exc:
        error, placement, outcome = str(exc), None, Outcome.FAILED
    except Exception as exc:  # a bug or an unexpected backend error: record it, never lose the component
        log.exception("job %s for %s failed unexpectedly", operation_id, name)
        error, outcome = f"{type(exc).__name__}: {exc}", Outcome.FAILED
    return finish_operation(services, leased, cmd, outcome, placement, error, logs, data.get("version"), None)


def _start_deployment(services: ServiceContext, record: Record) -> str:
    """Deploy, update and retry run as a strategy workflow; the job only starts it (idempotently)."""
    from pilothouse.services import deployments

    data = record.data
    if data["operation"]["command"] == Command.RETRY.value and data.get("placement"):
        data = _left_behind_stopped(services, data)
    deployments.start(services, data)
    op = {**data["operation"], "deployment_started": True, "lease_until": None}
    with contextlib.suppress(VersionConflict):  # a deployment task already moved the component on
        repo(services).update(
            record,
            {**data, "operation": op},
            {
                "type": f"{op['command']}.deployment_started",
                "from": record.state,
                "to": record.state,
                "actor": "system",
                "request_id": op.get("request_id"),
                "deployment_id": op["id"],
            },
        )
    return "deployment.started"


def _plan_stored_operation(services: ServiceContext, record: Record) -> str:
    """A deploy, update or retry an older release queued without a plan (it ran them through the
    provider directly) runs as a deployment, planned now as its command is planned today: the
    requested or the component's strategy, else all-at-once. A strategy that no longer validates
    ends the operation as a failed one, with the reason (what serves keeps serving)."""
    from pilothouse.services import deployments

    data = record.data
    op = data["operation"]
    cmd = Command(op["command"])
    params = op.get("params") or {}
    try:
        strategy, steps = deployments.plan_for(
            {**data, "placement": None} if cmd is Command.RETRY else data, params
        )
    except ValidationFailed as exc:
        current = Placement.from_dict(data["placement"]) if data.get("placement") else None
        outcome = Outcome.REVERTED if cmd in CHANGES_VERSION and current else Outcome.FAILED
        reason = f"queued by an earlier release without a plan, and it cannot be planned now: {exc.detail}"
        return finish_operation(
            services, record, cmd, outcome, current, reason, [], data.get("version"), None
        )
    planned = PendingCommand.model_validate(
        {
            **op,
            "params": {k: v for k, v in params.items() if k != "strategy"},
            "strategy": strategy,
            "steps": steps,
        }
    )
    event = {
        "type": f"{cmd.value}.planned",
        "from": record.state,
        "to": record.state,
        "actor": "system",
        "request_id": op.get("request_id"),
        "operation_id": op["id"],
        "strategy": strategy.get("preset") or strategy.get("type"),
    }
    try:
        record = repo(services).update(record, {**data, "operation": planned.stored()}, event)
    except VersionConflict:
        return "stale"
    return _start_deployment(services, record)


def _left_behind_stopped(services: ServiceContext, data: dict[str, Any]) -> dict[str, Any]:
    """A retry deploys afresh: stop what the failed attempt left recorded (processes that may be
    gone already, a dead pid included) and forget it, so nothing stale can block the deploy."""
    try:
        services.provider(data["spec"]["provider"]).stop(Placement.from_dict(data["placement"]))
    except (ProviderError, ProviderUnavailable) as exc:
        log.warning("retry of %s: stopping what the failed attempt left: %s", data["name"], exc)
    return {**data, "placement": None, "url": None, "replicas": 0}


#: the commands that move a Running component from one version to another
CHANGES_VERSION = (Command.UPDATE, Command.ROLLBACK)


def finish_operation(
    services: ServiceContext,
    record: Record,
    cmd: Command,
    outcome: Outcome,
    placement: Placement | None,
    error: str | None,
    logs: list[str],
    new_version: str | None,
    new_config: dict | None,
) -> str:
    data = dict(record.data)
    state = complete(State(record.state), outcome)
    now = iso(services.clock.time())
    spec = dict(data["spec"])
    if outcome is Outcome.SUCCEEDED:
        if cmd in CHANGES_VERSION and data.get("version") and new_version != data.get("version"):
            data["previous_version"] = data["version"]
        if (
            cmd in CHANGES_VERSION
            and data.get("version")
            and (new_version != data.get("version") or (new_config not in (None, spec["config"])))
        ):  # what a rollback goes back to: the revision this one replaced, its config included
            data["previous_revision"] = {"version": data["version"], "config": spec["config"]}
        if cmd in (Command.DEPLOY, Command.RETRY, *CHANGES_VERSION) and new_version:
            spec["version"] = new_version
        if new_config is not None:
            spec["config"] = new_config
        data["version"] = new_version if cmd is not Command.STOP else data.get("version")
        data["last_error"] = None
    else:
        data["last_error"] = {"command": cmd.value, "reason": error, "logs": logs[-20:], "at": now}
    data.update(
        spec=spec,
        state=state.value,
        placement=placement.to_dict() if placement else None,
        url=placement.url if placement else None,
        replicas=placement.replicas if placement else 0,
        operation=None,
        updated_at=now,
    )
    if placement is not None and outcome is not Outcome.SUCCEEDED:
        data["version"] = placement.version
    if state is State.RUNNING and placement is not None:
        # what a retry goes back to: the last version (and config) that was Running and healthy
        data["last_good"] = {"version": data["version"], "config": spec["config"], "at": now}
    event = {
        "type": f"{cmd.value}.{outcome.value}",
        "from": record.state,
        "to": state.value,
        "actor": "system",
        "request_id": record.data["operation"].get("request_id"),
        "operation_id": record.data["operation"]["id"],
        "version": data.get("version"),
        "replicas": data["replicas"],
        "url": data["url"],
    }
    if error:
        event["reason"] = error
        event["logs"] = logs[-20:]
    repo(services).update(record, data, event)
    return f"{cmd.value}.{outcome.value}"


def sweep_stalled(services: ServiceContext) -> list[str]:
    """Re-enqueue operations whose job was lost (never started, or its worker died). Reads only the
    components with a pending command (the repository's in-flight index), not every component."""
    now = services.clock.time()
    requeued = []
    for record in repo(services).in_flight():
        op = record.data.get("operation")
        if State(record.state) not in TRANSITIONAL or not op or op.get("deployment_started"):
            continue
        lease = op.get("lease_until")
        waited = now - op["requested_epoch"]
        stalled = (lease is None and waited > clock_seconds(services.clock, STALLED_AFTER_SECONDS)) or (
            lease is not None and lease <= now
        )
        if stalled:
            enqueue_job(services, record.name, op["id"])
            requeued.append(record.name)
    return requeued


RESTORING_NOTE = restoring.NOTE
RESTORED_STATES = restoring.RESTORED_STATES
needs_restore = restoring.needs_restore


def mark_restoring(services: ServiceContext) -> list[str]:
    """After a restart: mark every component :func:`restore_placements` will bring back
    (``restoring``: its GET says so, commands on it answer 409 until it is done), then lift the
    restart's gate (:mod:`pilothouse.services.restoring`), which answered the same for them until
    their mark was written. Returns their names."""
    marked = []
    try:
        for record in repo(services).each():
            if record.data.get("restoring"):  # marked by a start that crashed before it was done
                marked.append(record.name)
                continue
            if not needs_restore(record):
                continue
            try:
                repo(services).update(
                    record,
                    {**record.data, "restoring": restoring.marker(services)},
                    {"type": "restore.started", "from": record.state, "to": record.state, "actor": "system"},
                )
                marked.append(record.name)
            except VersionConflict:
                continue
    finally:
        restoring.end(services)
    return marked


def restore_placements(
    services: ServiceContext,
    *,
    cancelled: Callable[[], bool] | None = None,
    names: Iterable[str] | None = None,
) -> dict[str, str]:
    """After a control-plane restart: bring back the instances of every component
    :func:`needs_restore` names (a deployment under way from the deployment's own placement) and
    clear its ``restoring`` mark. A Running component that cannot be brought back is Failed (it
    keeps its last good version for a retry). Stops early, writing nothing more, once
    ``cancelled()`` is true (the control plane is stopping). ``names`` (what
    :func:`mark_restoring` marked) spares a second pass over every component."""
    results: dict[str, str] = {}
    records = repo(services).each() if names is None else _records(services, names)
    for record in records:
        if not needs_restore(record) and not record.data.get("restoring"):
            continue
        if cancelled is not None and cancelled():
            break
        try:
            results[record.name] = _restore_one(services, record, cancelled)
        except Exception as exc:  # never leave a component marked (nor the other ones unrestored)
            log.exception("restoring %s failed unexpectedly", record.name)
            results[record.name] = f"error: {type(exc).__name__}: {exc}"
        if cancelled is None or not cancelled():
            _clear_restoring(services, record.name)
    return results


def _records(services: ServiceContext, names: Iterable[str]) -> Iterator[Record]:
    for name in names:
        record = repo(services).get(name)
        if record is not None:
            yield record


def _restore_one(services: ServiceContext, record: Record, cancelled: Callable[[], bool] | None) -> str:
    data = record.data
    op = data.get("operation") or {}
    if op.get("deployment_started"):
        return _restore_deployment(services, data, op["id"])
    if not needs_restore(record):
        return "nothing to restore"
    current = Placement.from_dict(data["placement"])
    try:
        release = _bound(
            services, data, release_for(data, version=current.version, replicas=current.replicas)
        )
        placement = services.provider(data["spec"]["provider"]).restore(current, release)
    except (ProviderError, ProviderUnavailable) as exc:
        if cancelled is not None and cancelled():
            return "cancelled"
        if record.state != State.RUNNING.value:
            return f"failed: {exc}"  # its own job (re-run after the restart) decides what it becomes
        reason, logs = str(exc), list(getattr(exc, "logs", []))

        def failed(d: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
            new = {
                **d,
                "state": State.FAILED.value,
                "placement": None,
                "url": None,
                "replicas": 0,
                "last_error": {"command": "restore", "reason": reason, "logs": logs},
            }
            return new, {
                "type": "restore.failed",
                "from": d["state"],
                "to": "Failed",
                "actor": "system",
                "reason": reason,
            }

        _change(services, record.name, failed)
        return "failed"

    def restored(d: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        new = {**d, "placement": placement.to_dict(), "url": placement.url, "replicas": placement.replicas}
        return new, {
            "type": "restored",
            "from": d["state"],
            "to": d["state"],
            "actor": "system",
            "url": placement.url,
        }

    _change(services, record.name, restored)
    return "restored"


Change = Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]]


def _change(services: ServiceContext, name: str, change: Change) -> bool:
    """Apply ``change`` (data -> (new data, event)) to the component's latest record, clearing its
    ``restoring`` mark; retried on a version conflict. False if the component is gone."""
    for _ in range(20):
        record = repo(services).get(name)
        if record is None:
            return False
        new, event = change(record.data)
        new = {k: v for k, v in new.items() if k != "restoring"}
        new["updated_at"] = iso(services.clock.time())
        try:
            repo(services).update(record, new, event)
            return True
        except VersionConflict:
            continue
    return False


def _clear_restoring(services: ServiceContext, name: str) -> None:
    record = repo(services).get(name)
    if record is not None and record.data.get("restoring"):
        _change(
            services,
            name,
            lambda d: (
                d,
                {"type": "restore.finished", "from": d["state"], "to": d["state"], "actor": "system"},
            ),
        )


def resume_operations(services: ServiceContext) -> list[str]:
    """After a restart (this control plane holds the data dir's lock, so no other one runs jobs):
    re-enqueue every unfinished job at once, its lease dropped -- a lease held by the dead process
    would otherwise keep it waiting until it lapses. Deployments resume through their workflows."""
    requeued = []
    for record in repo(services).in_flight():
        op = record.data.get("operation")
        if State(record.state) not in TRANSITIONAL or not op or op.get("deployment_started"):
            continue
        try:
            event = {
                "type": f"{op['command']}.resumed",
                "from": record.state,
                "to": record.state,
                "actor": "system",
                "operation_id": op["id"],
            }
            repo(services).update(record, {**record.data, "operation": {**op, "lease_until": None}}, event)
        except VersionConflict:
            continue
        enqueue_job(services, record.name, op["id"])
        requeued.append(record.name)
    return requeued


def _restore_deployment(services: ServiceContext, data: dict[str, Any], deployment_id: str) -> str:
    """Bring back the revisions of a deployment that was under way when the control plane stopped,
    each at the version it ran (never turning the stable one into the new version)."""
    from pilothouse.errors import NotFound
    from pilothouse.services import deployments

    try:
        dep = deployments.get(services, deployment_id)
    except NotFound:
        return "no deployment"
    if not dep.get("placement"):
        return "nothing running yet"
    current = Placement.from_dict(dep["placement"])
    # the recorded revisions come back as recorded, so the release's version must be the primary
    # revision's: a release of the new version would replace a lone stable revision by it
    try:
        release = _bound(
            services, data, release_for(data, version=current.version, replicas=current.replicas)
        )
        placement = services.provider(data["spec"]["provider"]).restore(current, release)
    except (ProviderError, ProviderUnavailable) as exc:
        return f"failed: {exc}"

    def save(d):
        d["placement"] = placement.to_dict()
        return {"type": "restored", "actor": "system"}

    deployments.repo(services).change(deployment_id, save)
    return "restored mid-deployment"
