"""Carrying out a component's long command through its provider, and finishing its transition.

A job message names a component and the id of the operation its command recorded. The job:

1. takes a lease on the operation (a conditional write), so a redelivered or duplicated message
   for an operation that is being carried out, or is already finished, does nothing;
2. asks the provider to do the work (blocking until healthy or failed);
3. writes the outcome with the resting state the lifecycle table gives, plus an event.

A worker that dies mid-job leaves a lapsed lease; :func:`sweep_stalled` re-enqueues such operations.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pilothouse.clock import iso
from pilothouse.domain.lifecycle import TRANSITIONAL, Command, Outcome, State, complete
from pilothouse.errors import VersionConflict
from pilothouse.providers.base import HealthCheck, Placement, ProviderError, Release
from pilothouse.services.components import enqueue_job, repo
from pilothouse.store.components import Record
from pilothouse.wiring import ProviderUnavailable, Services

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


def handle_message(services: Services, body: str) -> str:
    """Run the job a queue message names; return what happened (for logs and tests)."""
    message = json.loads(body)
    return execute(services, message["component"], message["operation_id"])


def _lease(services: Services, record: Record, operation_id: str) -> Record | None:
    """Take the operation's lease, or None if the job is stale or someone else holds a live lease."""
    op = record.data.get("operation")
    if State(record.state) not in TRANSITIONAL or not op or op["id"] != operation_id:
        return None
    now = services.clock.time()
    if op.get("lease_until") and op["lease_until"] > now:
        return None
    lease = now + services.settings.provider_timeout_seconds * 2 + 60
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


def execute(services: Services, name: str, operation_id: str) -> str:
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
    if "_steps" in params:
        return _start_deployment(services, leased)
    current = Placement.from_dict(data["placement"]) if data.get("placement") else None
    placement: Placement | None = current
    error: str | None = None
    logs: list[str] = []
    new_version = data.get("version")
    new_config = None
    try:
        provider = services.provider(data["spec"]["provider"])
        if cmd in (Command.DEPLOY, Command.RETRY):
            new_version = params.get("version") or data["spec"]["version"]
            if current is not None:
                provider.stop(current)
                placement = None
            replicas = data["spec"]["scaling"]["replicas"]
            replicas = replicas if replicas is not None else max(data["spec"]["scaling"]["min"], 1)
            placement = provider.deploy(release_for(data, version=new_version, replicas=replicas))
        elif cmd is Command.UPDATE:
            assert current is not None
            new_version = params.get("version") or data["version"]
            new_config = params.get("config")
            release = release_for(data, version=new_version, config=new_config, replicas=current.replicas)
            placement = provider.update(current, release)
        elif cmd is Command.SCALE:
            assert current is not None
            release = release_for(data, version=data["version"], replicas=current.replicas)
            placement = provider.scale(current, release, params["replicas"])
        elif cmd is Command.STOP:
            if current is not None:
                provider.stop(current)
            placement = None
        outcome = Outcome.SUCCEEDED
    except ProviderError as exc:
        error, logs = exc.reason, exc.logs
        # A failed scale leaves the current instances serving; a failed update says what serves.
        placement = exc.placement if exc.placement is not None or cmd is not Command.SCALE else current
        outcome = Outcome.REVERTED if placement is not None and cmd in (Command.UPDATE, Command.SCALE) else Outcome.FAILED
    except ProviderUnavailable as exc:
        error, placement, outcome = str(exc), None, Outcome.FAILED
    except Exception as exc:  # a bug or an unexpected backend error: record it, never lose the component
        log.exception("job %s for %s failed unexpectedly", operation_id, name)
        error, outcome = f"{type(exc).__name__}: {exc}", Outcome.FAILED
    return finish_operation(services, leased, cmd, outcome, placement, error, logs, new_version, new_config)


def _start_deployment(services: Services, record: Record) -> str:
    """Deploy, update and retry run as a strategy workflow; the job only starts it (idempotently)."""
    from pilothouse.services import deployments

    deployments.start(services, record.data)
    op = {**record.data["operation"], "deployment_started": True, "lease_until": None}
    try:
        repo(services).update(
            record, {**record.data, "operation": op},
            {"type": f"{op['command']}.deployment_started", "from": record.state, "to": record.state,
             "actor": "system", "request_id": op.get("request_id"), "deployment_id": op["id"]},
        )
    except VersionConflict:
        pass  # a deployment task already moved the component on
    return "deployment.started"


def finish_operation(
    services: Services,
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
        if cmd is Command.UPDATE and data.get("version") and new_version != data.get("version"):
            data["previous_version"] = data["version"]
        if cmd in (Command.DEPLOY, Command.RETRY, Command.UPDATE) and new_version:
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


def sweep_stalled(services: Services) -> list[str]:
    """Re-enqueue operations whose job was lost (never started, or its worker died)."""
    now = services.clock.time()
    requeued = []
    for record in repo(services).all():
        op = record.data.get("operation")
        if State(record.state) not in TRANSITIONAL or not op or op.get("deployment_started"):
            continue
        lease = op.get("lease_until")
        stalled = (lease is None and now - op["requested_epoch"] > STALLED_AFTER_SECONDS) or (
            lease is not None and lease <= now
        )
        if stalled:
            enqueue_job(services, record.name, op["id"])
            requeued.append(record.name)
    return requeued


def restore_placements(services: Services) -> dict[str, str]:
    """After a control-plane restart: bring back the instances of every Running component, and of
    every component in the middle of a deployment (from the deployment's own placement)."""
    results: dict[str, str] = {}
    for record in repo(services).all():
        data = record.data
        op = data.get("operation") or {}
        if op.get("deployment_started"):
            results[record.name] = _restore_deployment(services, data, op["id"])
            continue
        if record.state != State.RUNNING.value or not data.get("placement"):
            continue
        current = Placement.from_dict(data["placement"])
        try:
            provider = services.provider(data["spec"]["provider"])
            placement = provider.restore(current, release_for(data, version=current.version, replicas=current.replicas))
            new = {**data, "placement": placement.to_dict(), "url": placement.url, "replicas": placement.replicas}
            event = {"type": "restored", "from": "Running", "to": "Running", "actor": "system", "url": placement.url}
            results[record.name] = "restored"
        except (ProviderError, ProviderUnavailable) as exc:
            new = {**data, "state": State.FAILED.value, "placement": None, "url": None, "replicas": 0,
                   "last_error": {"command": "restore", "reason": str(exc), "logs": getattr(exc, "logs", [])}}
            event = {"type": "restore.failed", "from": "Running", "to": "Failed", "actor": "system",
                     "reason": str(exc)}
            results[record.name] = "failed"
        new["updated_at"] = iso(services.clock.time())
        try:
            repo(services).update(record, new, event)
        except VersionConflict:
            results[record.name] = "conflict"
    return results


def _restore_deployment(services: Services, data: dict[str, Any], deployment_id: str) -> str:
    """Bring back both revisions of a deployment that was under way when the control plane stopped."""
    from pilothouse.errors import NotFound
    from pilothouse.services import deployments

    try:
        dep = deployments.get(services, deployment_id)
    except NotFound:
        return "no deployment"
    if not dep.get("placement"):
        return "nothing running yet"
    current = Placement.from_dict(dep["placement"])
    try:
        placement = services.provider(data["spec"]["provider"]).restore(
            current, release_for(data, version=dep["to_version"], config=dep.get("config"), replicas=current.replicas))
    except (ProviderError, ProviderUnavailable) as exc:
        return f"failed: {exc}"

    def save(d):
        d["placement"] = placement.to_dict()
        return {"type": "restored", "actor": "system"}

    deployments.repo(services).change(deployment_id, save)
    return "restored mid-deployment"
