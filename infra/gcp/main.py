"""Pilothouse on Google Cloud Run functions (functions-framework): one entry point per operation of
the catalogue (``pilothouse.catalogue``), generated at import; the entry point's name is the
operation's (``--entry-point get_component``; Terraform deploys one function per entry).

- HTTP operations: an HTTP function serving the operation's method and route (the API gateway in
  front keeps the request's path, so ``/v1/components/x`` reaches ``get_component`` as such).
- Queue consumers: a CloudEvent function fed by the queue's Pub/Sub push subscription (a
  ``messagePublished`` CloudEvent, or the raw push envelope functions-framework converts to one).
- Sweeps: a CloudEvent function fed by the Pub/Sub topic its Cloud Scheduler job publishes to, on
  template.yaml's schedule.
- Workflow tasks (``deployment_*``...) are not entry points: the run_task worker invokes them in its
  own process by name. ``execution_status_changed`` listens to AWS Step Functions only.

The adapters are :mod:`pilothouse.runtime.gcp_functions`; each function's module loads on its
first call, one instance per concurrent request (:mod:`pilothouse.runtime.instances`).
"""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import functions_framework

from pilothouse.runtime import gcp_functions as adapt
from pilothouse.runtime.cloud_entries import Entry, entries
from pilothouse.runtime.instances import HandlerPool, functions_dir

HERE = Path(__file__).resolve().parent

#: functions that are no entry point on Google Cloud, and why
NOT_ENTRY_POINTS = {
    "task": "invoked by name in the run_task worker's process (the invoker)",
    "aws-event": "reacts to AWS Step Functions events; the orchestrator here is the embedded engine",
}


def _functions_dir() -> Path:
    given = os.environ.get("PILOTHOUSE_FUNCTIONS_DIR")
    return Path(given) if given else functions_dir(HERE / "functions", HERE.parents[1] / "functions")


def _entry_point(entry: Entry, pool: HandlerPool) -> Callable[..., Any]:
    if entry.kind == "http":
        body = adapt.http_entry(pool, name=entry.name, route=entry.route, timeout=entry.timeout)
        register = functions_framework.http
    elif entry.kind == "queue":
        body = adapt.queue_entry(pool, name=entry.name, queue=entry.queue_name, timeout=entry.timeout)
        register = functions_framework.cloud_event
    else:
        body = adapt.schedule_entry(pool, name=entry.name, timeout=entry.timeout)
        register = functions_framework.cloud_event
    body.__name__ = body.__qualname__ = entry.name  # functions-framework registers by name
    return register(body)


#: the entry points by name, with the catalogue entry each serves
ENTRY_POINTS: dict[str, Entry] = {}

_folder = _functions_dir()
for _entry in entries():
    if _entry.kind in NOT_ENTRY_POINTS:
        continue
    globals()[_entry.name] = _entry_point(_entry, HandlerPool(_folder / _entry.name / "app.py"))
    ENTRY_POINTS[_entry.name] = _entry
