"""Pilothouse on Azure Functions (Python v2 programming model): every operation of the catalogue
(``pilothouse.catalogue``) with its trigger, generated when the host indexes this file.

- HTTP operations: an HTTP trigger on the same method and route as template.yaml (host.json sets
  ``routePrefix`` to "", so the routes are ``/v1/...``). Anonymous at the Functions level: the
  function authenticates API keys and bearer tokens itself, as on AWS.
- Queue consumers: a queue trigger on the Storage queue the settings name
  (``%PILOTHOUSE_JOBS_QUEUE%``...), over the managed identity's connection ``PilothouseStorage``.
- Sweeps: a timer trigger on template.yaml's schedule in NCRONTAB (``rate(1 minute)`` is
  ``0 */1 * * * *``).
- Workflow tasks (``deployment_*``...) have no trigger: the run_task worker invokes them in its own
  process by name, as the embedded cloud does. ``execution_status_changed`` listens to Step
  Functions' own events and has no place where the orchestrator is the embedded engine.

Each function's module (``functions/<name>/app.py``) loads on its first call, one instance per
concurrent invocation (:mod:`pilothouse.runtime.instances`); the adapters that turn Azure's
requests into the suite's events are :mod:`pilothouse.runtime.azure_functions`.
"""

import os
from pathlib import Path

import azure.functions as func

from pilothouse.runtime import azure_functions as adapt
from pilothouse.runtime.cloud_entries import azure_function_name, azure_route, entries
from pilothouse.runtime.instances import HandlerPool, functions_dir

HERE = Path(__file__).resolve().parent
#: the identity-based connection of the queue triggers (PilothouseStorage__queueServiceUri)
STORAGE_CONNECTION = "PilothouseStorage"

#: functions that get no trigger on Azure, and why (every other catalogue entry is triggered)
UNTRIGGERED = {
    "task": "invoked by name in the run_task worker's process (the invoker)",
    "aws-event": "reacts to AWS Step Functions events; the orchestrator here is the embedded engine",
}


def _functions_dir() -> Path:
    given = os.environ.get("PILOTHOUSE_FUNCTIONS_DIR")
    return Path(given) if given else functions_dir(HERE / "functions", HERE.parents[1] / "functions")


def build_app() -> func.FunctionApp:
    """The function app: one Azure function per triggered catalogue entry."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    folder = _functions_dir()
    for entry in entries():
        if entry.kind in UNTRIGGERED:
            continue
        pool = HandlerPool(folder / entry.name / "app.py")
        if entry.kind == "http":
            for index, route in enumerate(entry.routes):  # an Azure function has one route
                body = adapt.http_trigger(pool, name=entry.name, route=route, timeout=entry.timeout)
                app.function_name(azure_function_name(entry, index))(
                    app.route(
                        route=azure_route(route),
                        methods=[entry.method],
                        auth_level=func.AuthLevel.ANONYMOUS,
                    )(body)
                )
        elif entry.kind == "queue":
            body = adapt.queue_trigger(pool, name=entry.name, queue=entry.queue_name, timeout=entry.timeout)
            app.function_name(entry.name)(
                app.queue_trigger(
                    arg_name="msg", queue_name=f"%{entry.queue_setting}%", connection=STORAGE_CONNECTION
                )(body)
            )
        elif entry.kind == "schedule":
            body = adapt.timer_trigger(pool, name=entry.name, timeout=entry.timeout)
            app.function_name(entry.name)(
                app.timer_trigger(arg_name="timer", schedule=entry.ncrontab, use_monitor=True)(body)
            )
    return app


app = build_app()
