"""The Succeed state: ends its (sub) workflow successfully."""

from __future__ import annotations

from typing import Any

from .base import BaseState


class SucceedState(BaseState):
    """Stops the run with its (filtered) input as output."""

    @staticmethod
    def start(it: Any, run: dict, chain: list, st: dict) -> None:
        """Finish the run."""
        output, _ = it.flow(run, chain, st).finish(run["input"])
        it.exit_state(run, st, output, {}, None)
