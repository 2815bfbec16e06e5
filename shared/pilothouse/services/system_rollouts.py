"""A system's rollout, one step at a time: what the shipped workflow ``system-rollout`` repeats.

Each call of :func:`advance` (the workflow's Task ``system_advance``, then a Wait, then again)
reads the rollout record, looks at the members in flight (their component records), and moves on:

* **in progress** — members start in dependency order (a member waits until everything it depends on
  in this rollout has succeeded), at most ``max_parallel`` at once, each with its own strategy, as an
  ordinary command of its component (deploy, update or stop: its own deployment and gates);
* a member that **fails** stops the rollout: nothing more starts; once the members in flight have
  ended, the rollout is **rolling back**: the members it changed go back, one at a time and in the
  reverse order of their changes, to the version they had (a member it deployed from Registered is
  stopped); then the rollout ends ``rolled_back`` (``failed`` if a rollback failed too);
* when every member has succeeded (or had nothing to change) it ends ``succeeded``.

Every write of the record is conditional on the version read, so a repeated or concurrent call
never starts a member twice: the member is marked started in the record first, then its command is
sent with the request id ``<rollout>:<member>``, which a later call recognises on the component
(a crash between the two only sends it again).
"""

from __future__ import annotations

from typing import Any

from pilothouse.clock import iso
from pilothouse.domain.deployments import CAPABILITY_FIELD, capability_matches
from pilothouse.domain.lifecycle import Command
from pilothouse.domain.systems import ROLLOUT_DONE
from pilothouse.errors import PilothouseError, VersionConflict
from pilothouse.repositories.systems import SystemRepository
from pilothouse.services.context import ServiceContext
from pilothouse.services.deployment_tasks import CapabilityRefused

ATTEMPTS = 20
IN_FLIGHT = frozenset({"in_progress", "rolling_back"})
CHANGED = "succeeded"
#: a member marked started but not sent this long after is sent again (its sender crashed)
RESEND_AFTER_SECONDS = 30.0


class RolloutRefused(CapabilityRefused):
    """The call does not carry the rollout's capability (only its own workflow may advance it)."""


def request_id(rollout_id: str, member: str, rollback: bool = False) -> str:
    return f"{rollout_id}:{member}" + (":rollback" if rollback else "")


def advance_task(services: ServiceContext, payload: dict[str, Any]) -> dict[str, Any]:
    """The workflow's task: advance the rollout named in ``payload`` if it carries its capability."""
    system, rollout_id = payload.get("system"), payload.get("rollout_id")
    repo = SystemRepository(services.store)
    item = repo.rollout(str(system), str(rollout_id)) if system and rollout_id else None
    if item is None or not capability_matches(
        payload.get(CAPABILITY_FIELD), item.data.get("capabilities") or []
    ):
        raise RolloutRefused(
            f"refused: only the workflow that runs rollout {rollout_id!r} of system {system!r} may "
            "advance it, and the call does not carry its capability token"
        )
    return advance(services, str(system), str(rollout_id))


def advance(services: ServiceContext, system: str, rollout_id: str) -> dict[str, Any]:
    """One step of the rollout; ``{"done", "status"}`` for the workflow's Choice."""
    repo = SystemRepository(services.store)
    for _ in range(ATTEMPTS):
        item = repo.rollout(system, rollout_id)
        if item is None:
            return {"done": True, "status": "aborted"}
        data = _copy(item.data)
        if data["status"] in ROLLOUT_DONE:
            return {"done": True, "status": data["status"]}
        _observe(services, data)
        epoch = services.clock.time()
        to_start = _plan(data, epoch)
        if data == item.data and not to_start:
            return {"done": False, "status": data["status"]}
        now = iso(epoch)
        for name in to_start:
            data["members"][name].update(started_at=now, started_epoch=epoch)
        data["updated_at"] = now
        if data["status"] in ROLLOUT_DONE:
            data["finished_at"] = now
        try:
            repo.save_rollout(item, data)
        except VersionConflict:
            continue
        for name in to_start:
            _send(services, data, name)
        if data["status"] in ROLLOUT_DONE:
            _settle_system(services, system, data)
        return {"done": data["status"] in ROLLOUT_DONE, "status": data["status"]}
    return {"done": False, "status": "in_progress"}


def on_execution_ended(services: ServiceContext, ended: Any) -> None:
    """An execution listener: a system-rollout execution that ended (stopped, timed out, failed)
    while its rollout was still in flight leaves the rollout ``aborted``, so the system takes a new
    rollout; its members keep what they have (their own deployments settle themselves)."""
    from pilothouse.services.systems import WORKFLOW

    if ended.workflow != "pilothouse-" + WORKFLOW or ended.status == "SUCCEEDED" or not ended.trusted:
        return
    given = ended.input if isinstance(ended.input, dict) else {}
    system, rollout_id = given.get("system"), given.get("rollout_id")
    if not isinstance(system, str) or not isinstance(rollout_id, str):
        return
    repo = SystemRepository(services.store)
    for _ in range(ATTEMPTS):
        item = repo.rollout(system, rollout_id)
        if item is None or item.data["status"] in ROLLOUT_DONE:
            return
        now = iso(services.clock.time())
        reason = f"its execution ended {ended.status}: {ended.error or ''} {ended.cause or ''}".strip()
        data = {
            **_copy(item.data),
            "status": "aborted",
            "error": reason[:500],
            "finished_at": now,
            "updated_at": now,
        }
        try:
            repo.save_rollout(item, data)
        except VersionConflict:
            continue
        _settle_system(services, system, data)
        return


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "members": {k: dict(v) for k, v in data["members"].items()}}


def _order(data: dict[str, Any]) -> list[str]:
    return [n for wave in data["waves"] for n in wave]


def _unsent(data: dict[str, Any], in_flight: list[str], now: float) -> list[str]:
    """Members marked started whose command was not sent a while later (the sender crashed)."""
    members = data["members"]
    return [
        n
        for n in in_flight
        if not members[n].get("sent") and now - members[n].get("started_epoch", now) >= RESEND_AFTER_SECONDS
    ]


# -- looking at the members in flight -------------------------------------------------------------


def _observe(services: ServiceContext, data: dict[str, Any]) -> None:
    """Settle the in-flight members whose command has ended."""
    from pilothouse.services import components

    for name in _order(data):
        member = data["members"][name]
        if member["step"] not in IN_FLIGHT or not member.get("started_at"):
            continue
        rollback = member["step"] == "rolling_back"
        record = components.repo(services).get(name)
        if record is None:
            _finish(data, name, "rollback_failed" if rollback else "failed", "the component was deregistered")
            continue
        op = record.data.get("operation")
        if op:
            continue  # its command (ours, or one that got in first) is still running
        if not member.get("sent"):
            continue  # marked but not sent yet (the sender is on its way, or crashed: resent below)
        step, error = _outcome(member, record.data, rollback)
        _finish(data, name, step, error)


def _outcome(member: dict[str, Any], comp: dict[str, Any], rollback: bool) -> tuple[str, str | None]:
    state, version = comp["state"], comp.get("version")
    reason = (comp.get("last_error") or {}).get("reason")
    if rollback:
        if member["action"] == "deploy" and member.get("from_state") == "Registered":
            ok = state == "Stopped"
        else:
            ok = state == "Running" and version == member.get("from_version")
        return ("rolled_back", None) if ok else ("rollback_failed", reason or f"{state} on {version}")
    if member["action"] == "stop":
        return ("succeeded", None) if state == "Stopped" else ("failed", reason or f"still {state}")
    if state == "Running" and version == member.get("to_version"):
        return "succeeded", None
    if state == "Running":
        return (
            "failed",
            reason or f"its deployment was rolled back: it runs {version}, not {member.get('to_version')}",
        )
    return "failed", reason or f"the component is {state}"


def _finish(data: dict[str, Any], name: str, step: str, error: str | None) -> None:
    member = data["members"][name]
    member["step"] = step
    member["finished_seq"] = max([m.get("finished_seq", 0) for m in data["members"].values()] + [0]) + 1
    if error:
        member["error"] = error[:500]


# -- deciding what starts next --------------------------------------------------------------------


def _plan(data: dict[str, Any], now: float) -> list[str]:
    """Move the rollout's status on; the members to start now (marked in ``data``)."""
    members = data["members"]
    in_flight = [n for n, m in members.items() if m["step"] in IN_FLIGHT]
    if data["status"] == "in_progress" and any(m["step"] == "failed" for m in members.values()):
        failed = next(n for n in _order(data) if members[n]["step"] == "failed")
        data["status"] = "rolling_back"
        data["error"] = f"{failed}: {members[failed].get('error') or 'failed'}"
        for m in members.values():
            if m["step"] == "pending":
                m["step"] = "not_started"
    if data["status"] == "in_progress":
        return _start_next(data, in_flight) + _unsent(data, in_flight, now)
    if in_flight:
        return _unsent(data, in_flight, now)  # rolling back waits for every member in flight to end
    if not data.get("rollback_order") and data["status"] == "rolling_back":
        changed = [n for n, m in members.items() if m["step"] == CHANGED and m["action"] != "stop"]
        changed.sort(key=lambda n: members[n].get("finished_seq", 0), reverse=True)
        data["rollback_order"] = changed
    order = data.get("rollback_order") or []
    pending = [n for n in order if members[n]["step"] == CHANGED]
    if not pending:
        broken = any(m["step"] == "rollback_failed" for m in members.values())
        data["status"] = "failed" if broken or data["action"] == "stop" else "rolled_back"
        return []
    name = pending[0]
    members[name].update(step="rolling_back", sent=False)
    return [name]


def _start_next(data: dict[str, Any], in_flight: list[str]) -> list[str]:
    members = data["members"]
    done = {n for n, m in members.items() if m["step"] in ("succeeded", "unchanged")}
    if len(done) == len(members):
        data["status"] = "succeeded"
        return []
    room = data["max_parallel"] - len(in_flight)
    ready = []
    for name in _order(data):
        member = members[name]
        if member["step"] != "pending" or room <= 0:
            continue
        if all(d in done for d in member.get("after", [])):
            member.update(step="in_progress", sent=False)
            ready.append(name)
            room -= 1
    return ready


# -- sending a member's command -------------------------------------------------------------------


def _send(services: ServiceContext, data: dict[str, Any], name: str) -> None:
    """Send the member's command (or its rollback), then note that it was sent."""
    from pilothouse.services import components

    member = data["members"][name]
    rollback = member["step"] == "rolling_back"
    rid = request_id(data["id"], name, rollback)
    cmd, params = _command(member, rollback)
    error = None
    if not _already_sent(services, name, rid):
        try:
            components.command(services, name, cmd, params, actor=data["started_by"], request_id=rid)
        except PilothouseError as exc:
            if not _already_sent(services, name, rid):
                error = f"{cmd.value} refused: {exc}"
    _mark_sent(services, data["system"], data["id"], name, error, rollback)


def _already_sent(services: ServiceContext, name: str, rid: str) -> bool:
    """Did the component get the command of request id ``rid`` (running now, or in its recent
    history)? What makes sending again after a crash harmless."""
    from pilothouse.services import components

    record = components.repo(services).get(name)
    if record is None:
        return False
    if (record.data.get("operation") or {}).get("request_id") == rid:
        return True
    recent, _ = components.repo(services).events(name, limit=50, cursor=None, newest_first=True)
    return any(event.get("request_id") == rid for event in recent)


def _command(member: dict[str, Any], rollback: bool) -> tuple[Command, dict[str, Any]]:
    if rollback:
        if member["action"] == "deploy" and member.get("from_state") == "Registered":
            return Command.STOP, {}
        return Command.UPDATE, {"version": member["from_version"], "strategy": "all-at-once"}
    if member["action"] == "stop":
        return Command.STOP, {}
    params: dict[str, Any] = {"version": member["to_version"]}
    if member.get("strategy") is not None:
        params["strategy"] = member["strategy"]
    if member.get("from_state") == "Registered":
        return Command.DEPLOY, params
    return Command.UPDATE, params


def _mark_sent(
    services: ServiceContext, system: str, rollout_id: str, name: str, error: str | None, rollback: bool
) -> None:
    repo = SystemRepository(services.store)
    for _ in range(ATTEMPTS):
        item = repo.rollout(system, rollout_id)
        if item is None:
            return
        data = _copy(item.data)
        member = data["members"][name]
        member["sent"] = True
        if error:
            _finish(data, name, "rollback_failed" if rollback else "failed", error)
        try:
            repo.save_rollout(item, data)
            return
        except VersionConflict:
            continue


def _settle_system(services: ServiceContext, system: str, data: dict[str, Any]) -> None:
    """Show the rollout's end on the system record."""
    repo = SystemRepository(services.store)
    for _ in range(ATTEMPTS):
        item = repo.get(system)
        if item is None or (item.data.get("rollout") or {}).get("id") != data["id"]:
            return
        rollout = {**item.data["rollout"], "status": data["status"], "finished_at": data.get("finished_at")}
        try:
            repo.save(item, {**item.data, "rollout": rollout, "updated_at": data["updated_at"]})
            return
        except VersionConflict:
            continue
