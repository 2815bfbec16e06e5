"""Distributed Map on the durable executor: map runs of child executions, and their S3 calls.

The engine asks for a child execution with a :class:`~pilothouse.engine.StartChild` effect; the
step that produced it is stored first, then :func:`follow` creates the child as an execution of
its own (workflow ``<workflow>:<map run id>``, with its own steps and history) under a name
that is unique to the item, so asking twice never runs an item twice. When a child ends, an end
marker for its parent is stored right after the step that ended it (the marker lives in the
parent's ``MAPDONE#`` partition, so it cannot share the child's transaction), and a
:func:`harvest` is asked for: one parent
step counts every child that ended meanwhile (``complete_child`` ignores a child it already
counted), then drops their markers. MaxConcurrency holds because the
engine starts a new child only after one it counted as running has been reported ended.

A process killed between those writes loses nothing: :func:`recover` (run by the sweep for every
running execution) starts again each child the parent waits for that does not exist, and reports
each that ended.

The S3 calls of ItemReader and ResultWriter go to the blobs port, confined to the blobs under
:data:`S3_ROOT` (``s3://bucket/key`` is the blob ``s3/bucket/key``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pilothouse.clock import iso
from pilothouse.errors import Conflict
from pilothouse.ports import Delete, Item, Put, Write
from pilothouse.repositories.execution_bodies import event_chars
from pilothouse.repositories.workflows import ExecutionRepository
from pilothouse.services.context import ServiceContext

log = logging.getLogger(__name__)

#: the blobs a workflow's S3 calls may read and write
S3_ROOT = "s3/"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


#: ended children not yet counted by their parent: ``MAPDONE#<workflow>#<name>`` / child name
HARVEST_PAGE = 500
#: the children's outputs (JSON characters) one harvest step takes at most (at least one child):
#: the rest is left to the next harvest, so a step's new result chunks stay about what one
#: transaction carries (:mod:`pilothouse.repositories.execution_chunks`)
HARVEST_CHARS = 1_500_000


def ended_pk(workflow: str, name: str) -> str:
    """The partition of the end markers of a parent's children."""
    return f"MAPDONE#{workflow}#{name}"


def end_marker(child: dict) -> Put:
    """The write (in the child's last step) that tells its parent how it ended."""
    link = child["parent"]
    return Put(
        Item(
            ended_pk(link["workflow"], link["name"]),
            child["name"],
            {
                "map_run": link["map_run"],
                "index": link["index"],
                "status": child["status"],
                "output": child.get("output"),
                "error": child.get("error"),
                "cause": child.get("cause"),
                "start_date": child.get("start_date"),
                "stop_date": child.get("stop_date"),
            },
        )
    )


def harvest(services: ServiceContext, workflow: str, name: str) -> bool:
    """Count, in one step of the parent, the children that ended (up to :data:`HARVEST_PAGE` of
    them and :data:`HARVEST_CHARS` of their outputs; another harvest takes the rest), then drop
    their markers (a marker left by a crash is harvested again and ignored: ``complete_child``
    counts a child once)."""
    from pilothouse.engine import complete_child
    from pilothouse.services.execution_steps import Skip, apply_step

    ops: list[Write] = []

    def change(st: Any, data: dict, now: float) -> None:
        ops.clear()
        page = services.store.query(ended_pk(workflow, name), limit=HARVEST_PAGE)
        if not page.items:
            raise Skip
        counted = more = False
        taken = 0
        for marker in page.items:
            m = marker.data
            size = len(json.dumps(m.get("output")))
            if ops and taken + size > HARVEST_CHARS:
                more = True
                break
            taken += size
            counted |= complete_child(
                st,
                m["map_run"],
                m["index"],
                m["status"],
                m.get("output"),
                error=m.get("error"),
                cause=m.get("cause"),
                start_date=m.get("start_date"),
                stop_date=m.get("stop_date"),
            )
            ops.append(Delete(marker.pk, marker.sk))
        if more or page.cursor:  # more ended than one step takes: another harvest takes the rest
            services.queue.send(
                services.settings.executions_queue,
                json.dumps({"workflow": workflow, "name": name, "harvest": True}),
            )
        if not counted:
            raise Skip  # all counted already (or the parent moved on): only the markers go

    if services.store.query(ended_pk(workflow, name), limit=1).items == []:
        return False
    new = apply_step(services, workflow, name, change)
    for start in range(0, len(ops), 25):  # the store's largest transaction
        services.store.transact(ops[start : start + 25])
    return new is not None


def children_workflow(workflow: str, map_run: str) -> str:
    """Where the child executions of a map run are stored (their ``workflow``)."""
    return f"{workflow}:{map_run}"


def s3_call(services: ServiceContext, resource: str, payload: Any) -> Any:
    """Perform a Distributed Map's S3 call on the blobs port (raises ``S3CallFailed``)."""
    from pilothouse.engine.s3io import perform

    return perform(services.blobs, resource, payload, S3_ROOT)


def follow(services: ServiceContext, parent: dict, effects: list) -> None:
    """Perform the child effects of a stored step of ``parent``: start and stop children."""
    from pilothouse.engine import StartChild, StopChild

    for effect in effects:
        try:
            if isinstance(effect, StartChild):
                start_child(services, parent, effect)
            elif isinstance(effect, StopChild):
                stop_child(services, parent, effect.map_run, effect.name, effect.reason)
        except Exception:  # the sweep starts (or stops) it again
            log.exception("map run %s: child %s not handled yet", getattr(effect, "map_run", "?"), effect)


def start_child(services: ServiceContext, parent: dict, effect: Any) -> bool:
    """Create the child execution of ``effect`` unless it exists; True if created."""
    from pilothouse.engine import start as engine_start
    from pilothouse.services.execution_steps import send_followups
    from pilothouse.services.executions import token_prefix

    workflow = children_workflow(parent["workflow"], effect.map_run)
    repo = ExecutionRepository(services.store)
    if repo.get(workflow, effect.name) is not None:
        return False
    now = services.clock.time()
    st = engine_start(
        effect.definition,
        effect.input,
        execution_name=effect.name,
        execution_arn=effect.arn,
        now=now,
        state_machine_name=effect.state_machine_arn.rsplit(":", 1)[-1],
        state_machine_arn=effect.state_machine_arn,
        token_prefix=token_prefix(workflow, effect.name),
    )
    events = st.drain_history()
    data = {
        "arn": effect.arn,
        "name": effect.name,
        "workflow": workflow,
        "workflow_version": parent["workflow_version"],
        "status": "RUNNING",
        "step": 0,
        "state": st.data,
        "input": effect.input,
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
        "started_by": parent.get("started_by"),
        "request_id": parent.get("request_id"),
        "trusted": bool(parent.get("trusted")),
        "acting_as": parent.get("acting_as"),
        "parent": {
            "workflow": parent["workflow"],
            "name": parent["name"],
            "map_run": effect.map_run,
            "map_run_arn": effect.map_run_arn,
            "index": effect.index,
        },
    }
    data["text_seen"] = event_chars(events)  # a large input makes a watched record
    try:
        repo.create(data, events)
    except Conflict:
        return False
    send_followups(services, data, now)
    return True


def stop_child(services: ServiceContext, parent: dict, map_run: str, name: str, reason: str) -> None:
    """Stop a child execution that is no longer wanted (nothing if it ended or never started)."""
    from pilothouse.engine import stop as engine_stop
    from pilothouse.services.execution_steps import Skip, apply_step

    def change(st: Any, data: dict, now: float) -> None:
        if data["status"] != "RUNNING":
            raise Skip
        engine_stop(st, "States.Aborted", reason, now=now)

    apply_step(services, children_workflow(parent["workflow"], map_run), name, change)


def report_end(services: ServiceContext, child: dict) -> None:
    """Tell the parent of ``child`` (a record that just ended) how it ended."""
    from pilothouse.engine import complete_child
    from pilothouse.services.execution_steps import Skip, apply_step

    link = child["parent"]

    def change(st: Any, data: dict, now: float) -> None:
        if not complete_child(
            st,
            link["map_run"],
            link["index"],
            child["status"],
            child.get("output"),
            error=child.get("error"),
            cause=child.get("cause"),
            start_date=child.get("start_date"),
            stop_date=child.get("stop_date"),
        ):
            raise Skip  # counted already (a duplicate report)

    apply_step(services, link["workflow"], link["name"], change)


def recover(services: ServiceContext, parent: dict) -> dict[str, int]:
    """Start the children ``parent`` waits for that do not exist; report those that ended."""
    from pilothouse.engine import ExecutionState, pending_children

    counts = {"started": 0, "reported": 0}
    if harvest(services, parent["workflow"], parent["name"]):
        counts["reported"] += 1
        item = ExecutionRepository(services.store).get(parent["workflow"], parent["name"])
        if item is None or item.data["status"] != "RUNNING":
            return counts
        parent = item.data
    repo = ExecutionRepository(services.store)
    state = full_state(services, parent["workflow"], parent["name"])
    if state is None:
        return counts
    for effect in pending_children(ExecutionState(state)):
        item = repo.get(children_workflow(parent["workflow"], effect.map_run), effect.name)
        if item is None:
            counts["started"] += int(start_child(services, parent, effect))
        elif item.data["status"] in TERMINAL:
            report_end(services, item.data)
            counts["reported"] += 1
    return counts


def full_state(services: ServiceContext, workflow: str, name: str) -> dict | None:
    """The whole engine state of an execution, its chunked map-run lists read back in
    (:mod:`pilothouse.repositories.execution_chunks`); None if the execution is gone."""
    from pilothouse.repositories.execution_chunks import StateMoved, load_state

    repo = ExecutionRepository(services.store)
    for _ in range(20):
        item = repo.get(workflow, name)
        if item is None:
            return None
        try:
            return load_state(services.store, item)
        except StateMoved:
            continue
    raise Conflict(f"execution {name!r} is too busy; retry")


def describe_map_runs(services: ServiceContext, workflow: str, name: str) -> list[dict]:
    """The map runs of an execution as AWS's ListMapRuns / DescribeMapRun show them: those that
    ended (the last 100) and those running now, each with the workflow its children are listed
    under."""
    from pilothouse.engine import ExecutionState
    from pilothouse.engine.states.distributed_map import map_run_summary

    item = ExecutionRepository(services.store).require(workflow, name)
    state = ExecutionState(full_state(services, workflow, name) or item.data["state"])
    out = [dict(m) for m in state.data.get("map_runs", [])]
    ended = {m["mapRunArn"] for m in out}
    for run in state.runs():
        d = run.get("dmap")
        if d and d["arn"] not in ended and run.get("status") == "RUNNING":
            out.append(map_run_summary(d, "RUNNING"))
    for m in out:
        m["executionArn"] = item.data["arn"]
        m["childrenWorkflow"] = children_workflow(workflow, m["mapRunArn"].rsplit(":", 1)[1])
    return out
