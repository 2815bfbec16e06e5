"""The environment an execution runs for: where its HTTP tasks' ``component://<name>/<path>``
endpoints lead (:func:`pilothouse.services.http_tasks.resolve_component`).

A start may name one (``{"environment": "production"}``); it is written once per execution, beside
the execution (partition ``EXECUTION_ENVIRONMENT``, key ``<workflow>#<name>``), so the embedded
engine and Step Functions' task messages read it alike, and a Distributed Map's child executions
take their parent's. An execution started without one calls each component where it lives.

    >>> key("deploy", "nightly")
    'deploy#nightly'
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from pilothouse.errors import AlreadyExists, Conflict, VersionConflict
from pilothouse.ports import Item
from pilothouse.services.context import ServiceContext

PK = "EXECUTION_ENVIRONMENT"


def key(workflow: str, name: str) -> str:
    return f"{workflow}#{name}"


@contextlib.contextmanager
def recording(services: ServiceContext, workflow: str, name: str, environment: str | None) -> Iterator[None]:
    """:func:`record` around a start: if the start fails, a record it wrote is taken back."""
    created = record(services, workflow, name, environment)
    try:
        yield
    except BaseException:
        if created:
            services.store.delete(PK, key(workflow, name))
        raise


def record(services: ServiceContext, workflow: str, name: str, environment: str | None) -> bool:
    """Remember the environment execution ``name`` of ``workflow`` runs for (None: none); whether
    this wrote it. An execution keeps the first one named: another for the same name is a 409."""
    if environment is None:
        return False
    try:
        services.store.put(Item(PK, key(workflow, name), {"environment": environment}), if_absent=True)
        return True
    except (AlreadyExists, VersionConflict):
        current = of(services, {"workflow": workflow, "name": name})
        if current != environment:
            raise Conflict(
                f"execution {name!r} of {workflow} runs for {current}, not {environment}",
                extra={"field": "environment", "environment": current},
            ) from None
        return False


def of(services: ServiceContext, execution: dict[str, Any]) -> str | None:
    """The environment of ``execution`` (its record, or the task message's workflow and name);
    a Map child's is its parent's."""
    if execution.get("environment"):
        return str(execution["environment"])
    for source in (execution, execution.get("parent") or {}):
        workflow, name = source.get("workflow"), source.get("name")
        if workflow and name:
            item = services.store.get(PK, key(str(workflow), str(name)))
            if item is not None:
                return str(item.data["environment"])
    return None


def forget(services: ServiceContext, workflow: str) -> None:
    """A deleted workflow's executions run for no environment any more (a new one may reuse a name)."""
    for item in services.store.scan_all(PK, f"{workflow}#"):
        services.store.delete(PK, item.sk)
