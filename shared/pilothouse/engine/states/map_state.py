"""The Map state (inline processing, with optional batching and tolerance; distributed mode in
:mod:`pilothouse.engine.states.distributed_map`)."""

from __future__ import annotations

from typing import Any

from ..errors import (
    EXCEED_TOLERATED_FAILURE_THRESHOLD,
    StatesError,
)
from ..model import ABORTED, FAILED, RUNNING, SUCCEEDED, new_run
from .base import BaseState
from .distributed_map import DistributedMap, is_distributed
from .map_items import inline_items, item_inputs
from .map_items import number_field as _num


class MapState(BaseState):
    """Each item (or batch) runs the ItemProcessor as a child run."""

    @staticmethod
    def start(it: Any, run: dict, chain: list, st: dict) -> None:
        """Resolve the items and the processing limits."""
        if is_distributed(st):
            DistributedMap.start(it, run, chain, st)
            return
        flow = it.flow(run, chain, st)
        raw = run["input"]
        eff = flow.effective_input(raw)
        items = inline_items(flow, st, raw, eff)
        inputs = item_inputs(it, run, chain, st, flow, items, raw, eff)
        max_conc = _num(flow, st, raw, eff, "MaxConcurrency")
        tol_count = _num(flow, st, raw, eff, "ToleratedFailureCount")
        tol_pct = _num(flow, st, raw, eff, "ToleratedFailurePercentage", integer=False)
        it.emit(run, "MapStateStarted", {"length": len(inputs)})
        run["map"] = {
            "inputs": inputs,
            "results": [None] * len(inputs),
            "next": 0,
            "max": int(max_conc or 0),
            "tol_count": tol_count,
            "tol_pct": tol_pct,
        }
        run["children"] = []
        run["phase"] = "CHILDREN"

    @staticmethod
    def poll(it: Any, run: dict, chain: list, st: dict) -> bool:
        """Start iterations within MaxConcurrency, drive them, settle the outcome."""
        if "dmap" in run:
            return DistributedMap.poll(it, run, chain, st)
        m = run["map"]
        total = len(m["inputs"])
        proc_key = "ItemProcessor" if "ItemProcessor" in st else "Iterator"
        processor = st[proc_key]
        while True:
            changed = False
            for child in run["children"]:
                if child["status"] == RUNNING:
                    it.drive(child, chain + [child])
                if child["status"] != RUNNING and not child.get("settled"):
                    MapState._settle(it, run, child)
                    changed = True
            failures = sum(1 for c in run["children"] if c["status"] == FAILED)
            if failures and MapState._exceeded(m, failures, total):
                MapState._fail(it, run, st, failures)
            active = sum(1 for c in run["children"] if c["status"] == RUNNING)
            while m["next"] < total and (m["max"] == 0 or active < m["max"]):
                child = MapState._launch(it, run, chain, proc_key, processor)
                changed = True
                if child["status"] == RUNNING:
                    active += 1
                    continue
                MapState._settle(it, run, child)
                if child["status"] == FAILED:
                    break
            if not changed:
                break
        if m["next"] >= total and all(c["status"] != RUNNING for c in run["children"]):
            run["prev"] = it.data["history"][-1]["id"]
            it.emit(run, "MapStateSucceeded")
            it.finish_with_result(run, chain, st, list(m["results"]))
            return True
        return False

    @staticmethod
    def _launch(it: Any, run: dict, chain: list, proc_key: str, processor: dict) -> dict:
        m = run["map"]
        index = m["next"]
        m["next"] += 1
        it.emit(run, "MapIterationStarted", {"name": run["state"], "index": index})
        child = new_run(
            f"{run['id']}/{run['state']}#{index}",
            run["def"] + ["States", run["state"], proc_key],
            processor["StartAt"],
            m["inputs"][index],
            run["prev"],
        )
        child["index"] = index
        run["children"].append(child)
        it.drive(child, chain + [child])
        return child

    @staticmethod
    def _settle(it: Any, run: dict, child: dict) -> None:
        child["settled"] = True
        index = child["index"]
        details = {"name": run["state"], "index": index}
        if child["status"] == SUCCEEDED:
            run["map"]["results"][index] = child["output"]
            it.emit(run, "MapIterationSucceeded", details)
            for k in ("vars", "input", "task", "def"):
                child.pop(k, None)
        elif child["status"] == FAILED:
            run["map"]["results"][index] = {"Error": child.get("error"), "Cause": child.get("cause")}
            it.emit(run, "MapIterationFailed", details)
        elif child["status"] == ABORTED:
            it.emit(run, "MapIterationAborted", details)

    @staticmethod
    def _exceeded(m: dict, failures: int, total: int) -> bool:
        if m["tol_count"] is None and m["tol_pct"] is None:
            return True
        if m["tol_count"] is not None and failures > m["tol_count"]:
            return True
        return m["tol_pct"] is not None and total > 0 and failures * 100.0 / total > m["tol_pct"]

    @staticmethod
    def _fail(it: Any, run: dict, st: dict, failures: int) -> None:
        m = run["map"]
        it.abandon_children(run, "Map state failed")
        for child in run["children"]:
            if not child.get("settled"):
                MapState._settle(it, run, child)
        it.emit(run, "MapStateFailed")
        if m["tol_count"] is None and m["tol_pct"] is None:
            first = next(c for c in run["children"] if c["status"] == FAILED)
            raise StatesError(first.get("error") or "", first.get("cause") or "")
        raise StatesError(
            EXCEED_TOLERATED_FAILURE_THRESHOLD,
            f"The specified tolerated failure threshold was exceeded ({failures} failed item(s)).",
        )
