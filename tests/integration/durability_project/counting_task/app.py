"""CountingTaskFunction, the Task function of the durability test (tests/integration/test_durability.py).

Every call appends one JSON line to the file named by ``DURABILITY_CALLS_FILE`` (one O_APPEND
write, so lines of concurrent calls never mix) *before* it does anything else, so a call cut short
by a crash is still counted. Then it sleeps ``sleep`` seconds and:

* raises ``Fatal`` when ``fatal`` is set (never worth a retry);
* raises ``Flaky`` while ``attempt`` (the state's ``$$.State.RetryCount``) is below ``fail_times``;
* else returns ``{"unit": ..., "value": 2 * value}``.
"""

from __future__ import annotations

import json
import os
import time


class Flaky(Exception):
    """A transient failure: Retry takes care of it."""


class Fatal(Exception):
    """A permanent failure: Catch takes care of it."""


def _unit(event: dict) -> str:
    return str(event["unit"]) if "unit" in event else f"item-{event['index']}"


def _record(event: dict) -> None:
    line = {
        "execution": event["execution"],
        "state": event["state"],
        "unit": _unit(event),
        "attempt": event["attempt"],
        "pid": os.getpid(),
        "at": time.time(),
    }
    fd = os.open(os.environ["DURABILITY_CALLS_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line, sort_keys=True) + "\n").encode())
    finally:
        os.close(fd)


def handler(event: dict, context: object) -> dict:
    _record(event)
    time.sleep(float(event.get("sleep", 0.1)))
    if event.get("fatal"):
        raise Fatal(f"{_unit(event)} cannot go on")
    if int(event["attempt"]) < int(event.get("fail_times", 0)):
        raise Flaky(f"{_unit(event)} failed on attempt {event['attempt']}")
    return {"unit": _unit(event), "value": 2 * int(event["value"])}
