"""The operation catalogue as the Azure and Google Cloud packagings wire it: one entry per function,
with the trigger each cloud gives it.

    >>> by_name = {e.name: e for e in entries()}
    >>> by_name["get_component"].kind, by_name["get_component"].method, by_name["get_component"].route
    ('http', 'GET', '/v1/components/{name}')
    >>> by_name["run_job"].kind, by_name["run_job"].queue_setting, by_name["run_job"].queue_name
    ('queue', 'PILOTHOUSE_JOBS_QUEUE', 'pilothouse-jobs')
    >>> by_name["sweep"].kind, by_name["sweep"].ncrontab, by_name["sweep"].unix_cron
    ('schedule', '0 */1 * * * *', '*/1 * * * *')
    >>> by_name["deployment_prepare"].kind, by_name["execution_status_changed"].kind
    ('task', 'aws-event')

Kinds: ``http`` (an HTTP trigger on the same method and route as template.yaml), ``queue`` (a
queue trigger on the queue the settings name), ``schedule`` (a timer / Cloud Scheduler job on the
same schedule), ``task`` (no trigger anywhere: a workflow's Task runs it in the worker's process
through the invoker, as on the embedded cloud) and ``aws-event`` (an EventBridge rule on Step
Functions' own events: only where the orchestrator is Step Functions, so only on AWS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pilothouse.catalogue import FUNCTIONS, Consume, Every, Http, OnEvent, Task
from pilothouse.runtime.schedules import ncrontab, unix_cron
from pilothouse.settings import PREFIX, Settings

Kind = Literal["http", "queue", "schedule", "task", "aws-event"]

#: a function's timeout when the catalogue leaves it to the packaging (as template.yaml's default)
DEFAULT_TIMEOUT = 29


@dataclass(frozen=True)
class Entry:
    name: str
    kind: Kind
    timeout: int
    method: str = ""
    #: the API Gateway / OpenAPI spelling: ``/v1/components/{name}``
    route: str = ""
    #: more routes the same function serves (the dashboard's ``/{proxy+}``)
    extra_routes: tuple[str, ...] = ()
    #: the catalogue's queue (``jobs``) and the setting that names it (``PILOTHOUSE_JOBS_QUEUE``)
    queue: str = ""
    queue_setting: str = ""
    #: the queue's name when the setting is not given
    queue_name: str = ""
    #: the EventBridge expression of template.yaml (``rate(1 minute)``)
    schedule: str = ""

    @property
    def routes(self) -> tuple[str, ...]:
        """Every route of an ``http`` entry, its own first."""
        return (self.route, *self.extra_routes)

    @property
    def ncrontab(self) -> str:
        """Azure's timer schedule of a ``schedule`` entry."""
        return ncrontab(self.schedule)

    @property
    def unix_cron(self) -> str:
        """Cloud Scheduler's schedule of a ``schedule`` entry (UTC)."""
        return unix_cron(self.schedule)


def queue_field(queue: str) -> str:
    """The settings field naming the catalogue's ``queue`` (``task_messages_queue``)."""
    field = f"{queue}_queue"
    if field not in Settings.model_fields:
        raise KeyError(f"no setting names queue {queue!r} (expected Settings.{field})")
    return field


def entries() -> list[Entry]:
    """Every function of the catalogue, in its order, with its trigger outside AWS."""
    out: list[Entry] = []
    for fn in FUNCTIONS:
        timeout = fn.timeout or DEFAULT_TIMEOUT
        trigger = fn.trigger
        if isinstance(trigger, Http):
            out.append(
                Entry(
                    fn.name,
                    "http",
                    timeout,
                    method=trigger.method,
                    route=trigger.route,
                    extra_routes=trigger.extra_routes,
                )
            )
        elif isinstance(trigger, Consume):
            field = queue_field(trigger.queue)
            out.append(
                Entry(
                    fn.name,
                    "queue",
                    timeout,
                    queue=trigger.queue,
                    queue_setting=PREFIX + field.upper(),
                    queue_name=str(Settings.model_fields[field].default),
                )
            )
        elif isinstance(trigger, Every):
            out.append(Entry(fn.name, "schedule", timeout, schedule=trigger.expression))
        elif isinstance(trigger, Task):
            out.append(Entry(fn.name, "task", timeout))
        elif isinstance(trigger, OnEvent):
            out.append(Entry(fn.name, "aws-event", timeout))
        else:  # pragma: no cover - a new trigger kind must be given a place here
            raise TypeError(f"{fn.name}: no Azure/GCP trigger for {type(trigger).__name__}")
    return out


def azure_route(route: str) -> str:
    """An API Gateway route in Azure Functions' spelling: no leading slash, and a greedy
    ``{name+}`` as the catch-all ``{*name}``."""
    import re

    return re.sub(r"\{(\w+)\+\}", r"{*\1}", route.lstrip("/"))


def azure_function_name(entry: Entry, index: int) -> str:
    """The Azure function serving the ``index``-th route of ``entry`` (one route per Azure function)."""
    return entry.name if index == 0 else f"{entry.name}_route{index}"
