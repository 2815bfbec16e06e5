"""The Pass state: passes (or injects) data without doing work."""

from __future__ import annotations

from typing import Any

from .. import paths
from .base import BaseState


class PassState(BaseState):
    """``Result`` / ``Parameters`` (JSONPath) or ``Output`` (JSONata)."""

    @staticmethod
    def start(it: Any, run: dict, chain: list, st: dict) -> None:
        """Compute the output and move on."""
        flow = it.flow(run, chain, st)
        raw = run["input"]
        if flow.jsonata:
            output, assigns = flow.finish(raw)
        else:
            result = paths.copy_json(st["Result"]) if "Result" in st else flow.payload(raw)
            output, assigns = flow.finish(raw, result)
        it.exit_state(run, st, output, assigns, it.next_of(st))
