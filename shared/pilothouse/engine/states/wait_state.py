"""The Wait state: delays for a duration or until a timestamp."""

from __future__ import annotations

from typing import Any

from .. import paths
from ..choice import parse_timestamp
from ..errors import QUERY_EVALUATION_ERROR, StatesError, runtime
from .base import BaseState


def _bad(flow: Any, msg: str) -> StatesError:
    return StatesError(QUERY_EVALUATION_ERROR, msg) if flow.jsonata else runtime(msg)


class WaitState(BaseState):
    """Computes a wake-up time; ``advance`` resumes it once ``now`` reaches it."""

    @staticmethod
    def start(it: Any, run: dict, chain: list, st: dict) -> None:
        """Work out when to wake up."""
        flow = it.flow(run, chain, st)
        raw = run["input"]
        if "Seconds" in st or "SecondsPath" in st:
            if "Seconds" in st:
                secs = flow.value("Seconds", raw)
            else:
                secs = paths.resolve(st["SecondsPath"], flow.effective_input(raw), flow.env, "SecondsPath")
            if isinstance(secs, bool) or not isinstance(secs, (int, float)) or secs < 0 or int(secs) != secs:
                raise _bad(flow, f"The Wait seconds must be a non-negative integer, got {secs!r}")
            wake = run["entered"] + int(secs)
        else:
            if "Timestamp" in st:
                ts = flow.value("Timestamp", raw)
            else:
                ts = paths.resolve(st["TimestampPath"], flow.effective_input(raw), flow.env, "TimestampPath")
            parsed = parse_timestamp(ts)
            if parsed is None:
                raise _bad(flow, f"The Wait timestamp must be an RFC 3339 timestamp, got {ts!r}")
            wake = parsed.timestamp()
        run["wake_at"] = wake
        run["phase"] = "WAIT"

    @staticmethod
    def poll(it: Any, run: dict, chain: list, st: dict) -> bool:
        """Exit once the wake-up time has come."""
        if it.now < run["wake_at"]:
            return False
        output, assigns = it.flow(run, chain, st).finish(run["input"])
        it.exit_state(run, st, output, assigns, it.next_of(st))
        return True
