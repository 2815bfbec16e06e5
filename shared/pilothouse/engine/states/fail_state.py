"""The Fail state: stops its (sub) workflow with an error."""

from __future__ import annotations

from typing import Any

from .. import paths
from ..errors import runtime
from .base import BaseState


class FailState(BaseState):
    """``Error``/``Cause``, ``ErrorPath``/``CausePath`` or JSONata expressions."""

    @staticmethod
    def start(it: Any, run: dict, chain: list, st: dict) -> None:
        """Fail the run (Fail states cannot be retried or caught)."""
        flow = it.flow(run, chain, st)
        raw = run["input"]
        values = {}
        for key in ("Error", "Cause"):
            if flow.jsonata:
                value = flow.value(key, raw)
            elif key + "Path" in st:
                value = paths.evaluate_dynamic(st[key + "Path"], raw, flow.env, f"{key}Path")
            else:
                value = st.get(key)
            if value is not None and not isinstance(value, str):
                raise runtime(f"The {key} of Fail state '{run['state']}' must be a string, got {value!r}")
            values[key] = value
        # no Error/Cause: none in the ExecutionFailed event either, as AWS records it
        it.fail_run(run, values["Error"], values["Cause"])
