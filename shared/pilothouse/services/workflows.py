"""Workflow definitions (ASL), versioned: each update publishes a new immutable version.

A user's definition may call only the public operations (:mod:`pilothouse.services.workflow_access`);
the ``pilothouse-`` names belong to the shipped definitions the deployment manager registers.
"""

from __future__ import annotations

import json
from typing import Any

from pilothouse.clock import iso
from pilothouse.errors import AlreadyExists, Forbidden, NotFound, ValidationFailed, VersionConflict
from pilothouse.repositories.workflows import WorkflowRepository
from pilothouse.services.context import ServiceContext
from pilothouse.settings import Settings


def repo(services: ServiceContext) -> WorkflowRepository:
    return WorkflowRepository(services.store)


def check_definition(
    definition: Any, *, shipped: bool = False, settings: Settings | None = None
) -> dict[str, Any]:
    """Parse and validate an ASL definition; 422 listing every error with its JSON path. Unless
    ``shipped``, every Task must name a public operation or a function the setting
    ``workflow_task_functions`` allows, or send a message to a queue not the control plane's own;
    the 422 names the state's path."""
    from pilothouse.engine import validate
    from pilothouse.services.workflow_access import resource_errors

    if isinstance(definition, str):
        from pilothouse.jsonbounds import MAX_DEPTH, TooDeep, loads

        try:
            definition = loads(definition)
        except TooDeep:
            raise ValidationFailed.field("definition", f"nested deeper than {MAX_DEPTH} levels") from None
        except json.JSONDecodeError as exc:
            raise ValidationFailed.field("definition", f"not valid JSON: {exc.msg}") from None
    if not isinstance(definition, dict):
        raise ValidationFailed.field("definition", "must be a JSON object")
    errors = [{"path": e.path, "message": e.message} for e in validate(definition)]
    errors += http_task_errors(definition, settings)
    if not shipped:
        extra = settings.workflow_task_functions if settings else ()
        own = (
            (
                settings.jobs_queue,
                settings.executions_queue,
                settings.tasks_queue,
                settings.task_messages_queue,
            )
            if settings
            else ()
        )
        seen = {x["path"] for x in errors}
        errors += [e for e in resource_errors(definition, extra, own) if e["path"] not in seen]
    if errors:
        raise ValidationFailed(
            "; ".join(f"{e['path']}: {e['message']}" for e in errors[:5]),
            [{"field": f"definition{e['path'][1:]}", **e} for e in errors],
        )
    return definition


def http_task_errors(definition: dict[str, Any], settings: Settings | None) -> list[dict[str, str]]:
    """The HTTP tasks' endpoints checked by the outbound guard (shipped definitions too)."""
    from pilothouse.services.http_tasks import definition_errors

    hosts = settings.http_task_allow_hosts if settings else ()
    private = settings.outbound_allow_private if settings else True
    return definition_errors(definition, hosts, private)


def definition_warnings(definition: dict[str, Any]) -> list[dict[str, str]]:
    """What AWS accepts in a (checked) definition but is likely a mistake: an unreachable state,
    a path-looking value without ``.$`` ... (``workflow validate --strict`` shows the same)."""
    from pilothouse.engine import diagnose

    return [{"path": w.path, "message": w.message} for w in diagnose(definition).warnings]


def for_orchestrator(services: ServiceContext, definition: dict[str, Any]) -> dict[str, Any]:
    """A checked user definition as the orchestrator runs it: as it is on the embedded engine; on
    Step Functions with its function tasks sent over the task-messages queue (``run_task_message``
    runs each as the execution's starter)."""
    from pilothouse.services.http_tasks import has_http_tasks, http_tasks_over_sqs
    from pilothouse.services.workflow_access import function_tasks, user_tasks_over_sqs

    if services.settings.orchestrator == "embedded" or not (
        function_tasks(definition) or has_http_tasks(definition)
    ):
        return definition
    url = services.queue.url_of(services.settings.task_messages_queue)  # the task messages need SQS
    if url is None:
        return definition
    return http_tasks_over_sqs(user_tasks_over_sqs(definition, url), url)


def check_writable(name: str) -> None:
    """403 for the names reserved to the shipped workflows (users cannot create, change or delete them)."""
    from pilothouse.services.workflow_access import RESERVED_PREFIX, is_reserved

    if is_reserved(name):
        raise Forbidden(
            f"workflow names starting with {RESERVED_PREFIX!r} are reserved for the workflows "
            f"Pilothouse ships",
            extra={"field": "name"},
        )


def view(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "deleted"}


def create(
    services: ServiceContext,
    name: str,
    definition: Any,
    *,
    description: str = "",
    actor: str,
    shipped: bool = False,
) -> dict:
    """Register version 1 (``shipped``: by the deployment manager, under a reserved name)."""
    if not shipped:
        check_writable(name)
    definition = check_definition(definition, shipped=shipped, settings=services.settings)
    now = iso(services.clock.time())
    data = {
        "name": name,
        "version": 1,
        "definition": definition,
        "description": description,
        "created_at": now,
        "updated_at": now,
        "updated_by": actor,
    }
    version = {
        "version": 1,
        "definition": definition,
        "created_at": now,
        "created_by": actor,
        "description": description,
    }
    try:
        repo(services).create(data, version)
    except AlreadyExists:
        raise AlreadyExists(
            f"a workflow named {name!r} exists already; update it instead", extra={"field": "name"}
        ) from None
    return view(data)


def update(
    services: ServiceContext,
    name: str,
    definition: Any,
    *,
    description: str | None = None,
    actor: str,
    shipped: bool = False,
) -> dict:
    """Publish a new version (conditional on the version read)."""
    if not shipped:
        check_writable(name)
    definition = check_definition(definition, shipped=shipped, settings=services.settings)
    item = repo(services).require(name)
    version = item.data["version"] + 1
    now = iso(services.clock.time())
    data = {**item.data, "version": version, "definition": definition, "updated_at": now, "updated_by": actor}
    if description is not None:
        data["description"] = description
    published = {
        "version": version,
        "definition": definition,
        "created_at": now,
        "created_by": actor,
        "description": data["description"],
    }
    try:
        repo(services).publish(item, data, published)
    except (VersionConflict, AlreadyExists):
        raise VersionConflict(f"workflow {name!r} changed while updating; read it again") from None
    return view(data)


def get(services: ServiceContext, name: str, version: int | None = None) -> dict:
    item = repo(services).require(name)
    if version is None or version == item.data["version"]:
        return view(item.data)
    ver = repo(services).version(name, version)
    if ver is None:
        raise NotFound(f"workflow {name!r} has no version {version}")
    return {**view(item.data), **ver.data}


def list_workflows(services: ServiceContext, *, limit: int = 50, cursor: str | None = None):
    page = repo(services).page(limit=limit, cursor=cursor)
    return [{k: v for k, v in i.data.items() if k != "definition"} for i in page.items], page.cursor


def list_versions(services: ServiceContext, name: str, *, limit: int = 50, cursor: str | None = None):
    get(services, name)
    page = repo(services).versions(name, limit=limit, cursor=cursor)
    return [{k: v for k, v in i.data.items() if k != "definition"} for i in page.items], page.cursor


def delete(services: ServiceContext, name: str) -> None:
    """Delete a workflow and its versions; its executions and their history stay readable."""
    check_writable(name)
    repo(services).delete(repo(services).require(name))
