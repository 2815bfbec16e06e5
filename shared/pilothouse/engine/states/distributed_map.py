"""The Map state in DISTRIBUTED mode: a map run of child executions.

A Map state is distributed when it has an ``ItemReader`` or a ``ResultWriter`` or its
``ItemProcessor.ProcessorConfig.Mode`` is ``DISTRIBUTED``. Its run goes through three stages,
kept in ``run["dmap"]``:

``read``
    With an ItemReader the items are read by internal tasks (``s3:getObject``, or
    ``s3:listObjectsV2`` page by page) that the driver performs on the blobs port
    (:mod:`pilothouse.engine.s3io`); otherwise they come from ``ItemsPath`` / ``Items``.
``children``
    Each item (after ``ItemSelector`` and ``ItemBatcher``) becomes a child execution of the
    ItemProcessor with its own name, ARN and history. The engine asks the driver to start it (a
    :class:`~pilothouse.engine.model.StartChild` effect, never more than ``MaxConcurrency`` in
    flight) and the driver reports its end with :func:`pilothouse.engine.complete_child`.
    Failures beyond ``ToleratedFailureCount`` / ``ToleratedFailurePercentage`` (none tolerated by
    default) stop the others (:class:`~pilothouse.engine.model.StopChild`) and fail the state with
    ``States.ExceedToleratedFailureThreshold``.
``write``
    With a ResultWriter that exports, the result files and manifest are written by one internal
    task; the state's result is then the ResultWriter details.
"""

from __future__ import annotations

import uuid
from typing import Any

from .. import item_reader, result_writer
from ..errors import (
    EXCEED_TOLERATED_FAILURE_THRESHOLD,
    ITEM_READER_FAILED,
    StatesError,
)
from ..fields import JSONPATH
from ..model import InvokeTask, StartChild, StopChild, iso
from ..s3io import PUT_OBJECTS
from .map_items import inline_items, item_inputs
from .map_items import number_field as _num

SUCCEEDED = "SUCCEEDED"
FAILED_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")


def is_distributed(st: dict) -> bool:
    """True for a Map state that runs as a Distributed Map."""
    proc = st.get("ItemProcessor") or {}
    mode = (proc.get("ProcessorConfig") or {}).get("Mode") if isinstance(proc, dict) else None
    return "ItemReader" in st or "ResultWriter" in st or mode == "DISTRIBUTED"


def _request(it: Any, run: dict, resource: str, payload: Any) -> None:
    """Ask the driver for an internal S3 call; its outcome arrives like a task's."""
    it.data["task_counter"] = it.data.get("task_counter", 0) + 1
    task_id = f"task-{it.data['task_counter']}"
    run["task"] = {
        "task_id": task_id,
        "resource": resource,
        "token": None,
        "state_name": run["state"],
        "retry_count": run.get("retry_count", 0),
        "timeout_at": None,
        "heartbeat_at": None,
        "heartbeat_seconds": None,
        "payload": payload,
        "internal": True,
    }
    it.effects.append(
        InvokeTask(
            task_id=task_id,
            resource=resource,
            payload=payload,
            state_name=run["state"],
            retry_count=run.get("retry_count", 0),
        )
    )
    run["phase"] = "TASK_RUNNING"


def _outcome(run: dict) -> dict | None:
    task = run.get("task")
    if not task or "outcome" not in task:
        return None
    run.pop("task")
    return task["outcome"]


def child_definition(it: Any, run: dict, st: dict) -> dict:
    """The ItemProcessor as the state machine its child executions run."""
    proc = st["ItemProcessor"] if "ItemProcessor" in st else st["Iterator"]
    definition = {k: v for k, v in proc.items() if k != "ProcessorConfig"}
    ql = it.query_language(st)
    if "QueryLanguage" not in definition and ql != JSONPATH:
        definition["QueryLanguage"] = ql
    return definition


class DistributedMap:
    """The stages of a map run (called by :class:`~pilothouse.engine.states.map_state.MapState`)."""

    @staticmethod
    def start(it: Any, run: dict, chain: list, st: dict) -> None:
        """Resolve limits and where the items come from; read them or start the children."""
        flow = it.flow(run, chain, st)
        raw = run["input"]
        eff = flow.effective_input(raw)
        label = st.get("Label") or run["state"]
        sm_arn = it.data["state_machine"]["Id"]
        prefix, _, sm_name = sm_arn.partition(":stateMachine:")
        map_run = uuid.uuid4().hex
        writer = result_writer.resolve(flow, st["ResultWriter"], raw, eff) if "ResultWriter" in st else None
        d: dict = {
            "stage": "read",
            "id": map_run,
            "arn": f"{prefix}:mapRun:{sm_name}/{label}:{map_run}",
            "exec_prefix": f"{prefix}:execution:{sm_name}/{label}:",
            "child_sm": f"{sm_arn}/{label}",
            "writer": writer.to_dict() if writer else None,
            "max": int(_num(flow, st, raw, eff, "MaxConcurrency") or 0),
            "tol_count": _num(flow, st, raw, eff, "ToleratedFailureCount"),
            "tol_pct": _num(flow, st, raw, eff, "ToleratedFailurePercentage", integer=False),
            "started": iso(it.now),
        }
        run["dmap"] = d
        it.emit(run, "MapRunStarted", {"mapRunArn": d["arn"]})
        if "ItemReader" in st:
            req = item_reader.resolve(flow, st["ItemReader"], raw, eff)
            d["reader"] = req.to_dict()
            d["read"] = []
            _request(it, run, req.resource, req.payload())
            return
        items = inline_items(flow, st, raw, eff)
        DistributedMap._begin(it, run, chain, st, items)

    @staticmethod
    def _begin(it: Any, run: dict, chain: list, st: dict, items: list) -> None:
        d = run["dmap"]
        flow = it.flow(run, chain, st)
        raw = run["input"]
        eff = flow.effective_input(raw)
        inputs = item_inputs(it, run, chain, st, flow, items, raw, eff)
        for value in inputs:
            it.check_size(value, "child execution input")
        d.update(stage="children", inputs=inputs, results=[None] * len(inputs), running=[], next=0)
        d.pop("read", None)
        run["phase"] = "DMAP_CHILDREN"

    @staticmethod
    def poll(it: Any, run: dict, chain: list, st: dict) -> bool:
        """Make progress on the current stage; False while waiting for the driver."""
        d = run["dmap"]
        if d["stage"] == "read":
            return DistributedMap._poll_read(it, run, chain, st)
        if d["stage"] == "children":
            return DistributedMap._poll_children(it, run, chain, st)
        outcome = _outcome(run)
        if outcome is None:
            return False
        if "error" in outcome:
            raise StatesError(
                result_writer.RESULT_WRITER_FAILED, f"{outcome['error']}: {outcome.get('cause') or ''}"
            )
        if d.get("fail"):
            error, cause = d["fail"]
            it.emit(run, "MapRunFailed", {"error": error, "cause": cause})
            record_map_run(it, run, "FAILED")
            it.emit(run, "MapStateFailed")
            raise StatesError(error, cause)
        DistributedMap._finish(it, run, chain, st, d["result"])
        return True

    @staticmethod
    def _poll_read(it: Any, run: dict, chain: list, st: dict) -> bool:
        d = run["dmap"]
        outcome = _outcome(run)
        if outcome is None:
            return False
        req = item_reader.ReadRequest.from_dict(d["reader"])
        if "error" in outcome:
            raise StatesError(ITEM_READER_FAILED, f"{outcome['error']}: {outcome.get('cause') or ''}")
        if req.resource == item_reader.GET_OBJECT:
            items = item_reader.parse_object(req, outcome.get("output"))
        else:
            page, token = item_reader.list_items(req, outcome.get("output"))
            d["read"].extend(page)
            if token and not (req.max_items and len(d["read"]) >= req.max_items):
                _request(it, run, req.resource, req.payload(token))
                return True
            items = d["read"][: req.max_items] if req.max_items else d["read"]
        DistributedMap._begin(it, run, chain, st, items)
        return True

    @staticmethod
    def _poll_children(it: Any, run: dict, chain: list, st: dict) -> bool:
        d = run["dmap"]
        total = len(d["inputs"])
        changed = False
        failures = d.get("failed", 0)
        if failures and DistributedMap._exceeded(d, failures, total):
            DistributedMap._fail(
                it,
                run,
                chain,
                st,
                EXCEED_TOLERATED_FAILURE_THRESHOLD,
                f"The specified tolerated failure threshold was exceeded ({failures} failed item(s)).",
            )
            return True
        while (d.get("redo") or d["next"] < total) and (d["max"] == 0 or len(d["running"]) < d["max"]):
            if d.get("redo"):
                index = d["redo"].pop(0)
            else:
                index = d["next"]
                d["next"] += 1
            d["running"].append(index)
            it.effects.append(DistributedMap.start_child(it, run, st, index))
            changed = True
        if d["next"] >= total and not d.get("redo") and not d["running"]:
            DistributedMap._settle(it, run, chain, st, None)
            return True
        return changed

    @staticmethod
    def child_name(d: dict, index: int) -> str:
        """The name of the child execution of item ``index`` (a new one each redrive of it)."""
        attempt = (d.get("attempts") or {}).get(str(index))
        return f"{d['id']}_{index}_r{attempt}" if attempt else f"{d['id']}_{index}"

    @staticmethod
    def start_child(it: Any, run: dict, st: dict, index: int) -> StartChild:
        """The effect that starts (or, after a crash, starts again) the child of ``index``."""
        d = run["dmap"]
        name = DistributedMap.child_name(d, index)
        return StartChild(
            name=name,
            arn=d["exec_prefix"] + name,
            state_machine_arn=d["child_sm"],
            map_run=d["id"],
            map_run_arn=d["arn"],
            index=index,
            definition=child_definition(it, run, st),
            input=d["inputs"][index],
        )

    @staticmethod
    def _exceeded(d: dict, failures: int, total: int) -> bool:
        if d["tol_count"] is None and d["tol_pct"] is None:
            return True
        if d["tol_count"] is not None and failures > d["tol_count"]:
            return True
        return d["tol_pct"] is not None and total > 0 and failures * 100.0 / total > d["tol_pct"]

    @staticmethod
    def stop_children(it: Any, run: dict, reason: str) -> None:
        """Ask the driver to stop every child still running."""
        d = run.get("dmap") or {}
        for index in d.get("running") or []:
            it.effects.append(StopChild(DistributedMap.child_name(d, index), d["id"], reason))
            d["results"][index] = {"s": "ABORTED", "e": "States.Aborted", "c": reason}
        if d.get("running"):
            d["running"] = []

    @staticmethod
    def _fail(it: Any, run: dict, chain: list, st: dict, error: str, cause: str) -> None:
        DistributedMap.stop_children(it, run, "map run failed")
        d = run["dmap"]
        d["next"] = len(d["inputs"])
        d["redo"] = []
        DistributedMap._settle(it, run, chain, st, (error, cause))

    @staticmethod
    def _settle(it: Any, run: dict, chain: list, st: dict, fail: tuple | None) -> None:
        """All children are done (or the run failed): write the results, or finish at once."""
        d = run["dmap"]
        spec = result_writer.WriterSpec.from_dict(d["writer"]) if d.get("writer") else None
        entries = DistributedMap.entries(d) if spec is not None else []
        result: Any
        if spec is not None and spec.exports:
            objects, result = result_writer.files(spec, d["id"], d["arn"], entries)
            d.update(stage="write", result=result, fail=list(fail) if fail else None)
            _request(it, run, PUT_OBJECTS, {"Bucket": spec.bucket, "Objects": objects})
            return
        if fail:
            it.emit(run, "MapRunFailed", {"error": fail[0], "cause": fail[1]})
            record_map_run(it, run, "FAILED")
            it.emit(run, "MapStateFailed")
            raise StatesError(*fail)
        if spec is not None:
            result = result_writer.transform(spec, entries)
        else:
            result = [
                r["o"] if r["s"] == SUCCEEDED else {"Error": r.get("e"), "Cause": r.get("c")}
                for r in d["results"]
            ]
        DistributedMap._finish(it, run, chain, st, result)

    @staticmethod
    def _finish(it: Any, run: dict, chain: list, st: dict, result: Any) -> None:
        record_map_run(it, run, "SUCCEEDED")
        it.emit(run, "MapRunSucceeded")
        it.emit(run, "MapStateSucceeded")
        it.finish_with_result(run, chain, st, result)

    @staticmethod
    def entries(d: dict) -> list:
        """Every item's child execution as a result-file entry (PENDING: never started)."""
        out = []
        for index, r in enumerate(d["results"]):
            name = DistributedMap.child_name(d, index)
            r = r or {"s": "PENDING"}
            out.append(
                result_writer.entry(
                    name=name,
                    arn=d["exec_prefix"] + name,
                    state_machine_arn=d["child_sm"],
                    input=d["inputs"][index],
                    status=r["s"],
                    output=r.get("o"),
                    error=r.get("e"),
                    cause=r.get("c"),
                    start=r.get("t0"),
                    stop=r.get("t1"),
                )
            )
        return out


def map_run_summary(d: dict, status: str) -> dict:
    """A map run as AWS's DescribeMapRun shows it (without the execution ARN)."""
    results = d.get("results") or []
    running = len(d.get("running") or [])
    done = [r for r in results if r is not None]
    counts = {
        "pending": len(results) - len(done) - running,
        "running": running,
        "succeeded": sum(1 for r in done if r["s"] == SUCCEEDED),
        "failed": sum(1 for r in done if r["s"] == "FAILED"),
        "timedOut": sum(1 for r in done if r["s"] == "TIMED_OUT"),
        "aborted": sum(1 for r in done if r["s"] == "ABORTED"),
        "total": len(results),
    }
    return {
        "mapRunArn": d["arn"],
        "status": status,
        "startDate": d.get("started"),
        "stopDate": d.get("stopped"),
        "maxConcurrency": d.get("max", 0),
        "toleratedFailurePercentage": d.get("tol_pct") or 0,
        "toleratedFailureCount": d.get("tol_count") or 0,
        "itemCounts": counts,
        "executionCounts": counts,
        "redriveCount": d.get("redrives", 0),
    }


#: finished map runs an execution keeps (newest last) for DescribeMapRun / ListMapRuns
MAX_MAP_RUNS_KEPT = 100


def record_map_run(it: Any, run: dict, status: str) -> None:
    """Keep the summary of a map run that ended (the state's scratch data goes when it exits)."""
    d = run["dmap"]
    d["stopped"] = iso(it.now)
    kept = [m for m in it.data.get("map_runs", []) if m["mapRunArn"] != d["arn"]]
    kept.append(map_run_summary(d, status))
    it.data["map_runs"] = kept[-MAX_MAP_RUNS_KEPT:]


def redrive(run: dict) -> bool:
    """Make a failed map run start again only its children that did not succeed (as AWS redrives
    a Map Run); False if ``run`` has no map run that can go on."""
    d = run.get("dmap")
    if not d or d.get("stage") not in ("children", "write") or "inputs" not in d:
        return False
    redo = [i for i, r in enumerate(d["results"]) if r is None or r["s"] != SUCCEEDED]
    d["redrives"] = d.get("redrives", 0) + 1
    attempts = d.setdefault("attempts", {})
    for i in redo:
        if d["results"][i] is not None:
            attempts[str(i)] = d["redrives"]
        d["results"][i] = None
    d.update(stage="children", running=[], redo=redo, next=len(d["inputs"]), failed=0)
    for k in ("fail", "result"):
        d.pop(k, None)
    run.pop("task", None)
    run["phase"] = "DMAP_CHILDREN"
    return True


def complete_child(
    run: dict,
    index: int,
    status: str,
    output: Any = None,
    error: str | None = None,
    cause: str | None = None,
    start: str | None = None,
    stop: str | None = None,
) -> bool:
    """Record the end of the child of ``index`` in ``run``; False if it was not running."""
    d = run.get("dmap")
    if not d or d.get("stage") != "children" or index not in d.get("running", []):
        return False
    d["running"].remove(index)
    entry: dict = {"s": status, "t0": start, "t1": stop}
    if status == SUCCEEDED:
        entry["o"] = output
    else:
        entry.update(e=error, c=cause)
    d["results"][index] = entry
    if status != SUCCEEDED:
        d["failed"] = d.get("failed", 0) + 1
    return True
