"""The Parallel state: runs every branch and collects their outputs."""

from __future__ import annotations

from typing import Any

from ..errors import StatesError
from ..model import FAILED, RUNNING, SUCCEEDED, new_run
from .base import BaseState


class ParallelState(BaseState):
    """Branches run as child runs; the first failing branch fails the state."""

    @staticmethod
    def start(it: Any, run: dict, chain: list, st: dict) -> None:
        """Create one child run per branch."""
        flow = it.flow(run, chain, st)
        branch_input = flow.payload(run["input"])
        it.check_size(branch_input, "branch input")
        it.emit(run, "ParallelStateStarted")
        base = run["def"] + ["States", run["state"], "Branches"]
        run["children"] = [
            new_run(
                f"{run['id']}/{run['state']}[{i}]", base + [i], branch["StartAt"], branch_input, run["prev"]
            )
            for i, branch in enumerate(st["Branches"])
        ]
        run["phase"] = "CHILDREN"

    @staticmethod
    def poll(it: Any, run: dict, chain: list, st: dict) -> bool:
        """Drive the branches; finish when all succeeded or one failed."""
        children = run["children"]
        for child in children:
            if child["status"] == RUNNING:
                it.drive(child, chain + [child])
                if child["status"] == FAILED:
                    break
        failed = next((c for c in children if c["status"] == FAILED), None)
        if failed is not None:
            it.abandon_children(run, "another branch failed")
            run["prev"] = it.data["history"][-1]["id"]
            it.emit(run, "ParallelStateFailed")
            raise StatesError(failed.get("error") or "", failed.get("cause") or "")
        if all(c["status"] == SUCCEEDED for c in children):
            run["prev"] = it.data["history"][-1]["id"]
            it.emit(run, "ParallelStateSucceeded")
            it.finish_with_result(run, chain, st, [c["output"] for c in children])
            return True
        return False
