"""Workflow and execution endpoints (the Step Functions API, on the embedded engine)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field

from pilothouse.api import lazy
from pilothouse.domain.components import Environment
from pilothouse.domain.security import Permission
from pilothouse.errors import BadRequest, Forbidden, NotFound, ValidationFailed
from pilothouse.runtime.context import current
from pilothouse.runtime.http import json_response
from pilothouse.runtime.operations import operation
from pilothouse.services import execution_environments
from pilothouse.services import executions as ex
from pilothouse.services import workflow_operations as ops
from pilothouse.services import workflows as wf
from pilothouse.services.workflow_access import is_reserved

TAG = "workflows"
NAME = r"^[A-Za-z0-9_-]{1,80}$"
#: a workflow as executions name it: a workflow, or a Distributed Map run's children
#: (``<workflow>:<map run>``, services.map_runs.children_workflow)
EXECUTIONS_OF = r"^[A-Za-z0-9_-]{1,80}(:[A-Za-z0-9_-]{1,80})?$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateWorkflow(Strict):
    name: str = Field(pattern=NAME)
    definition: dict[str, Any] | str
    description: str = Field(default="", max_length=1000)


class UpdateWorkflow(Strict):
    definition: dict[str, Any] | str
    description: str | None = Field(default=None, max_length=1000)


class StartExecution(Strict):
    name: str | None = Field(default=None, pattern=NAME)
    input: Any = None
    #: where its HTTP tasks' ``component://<name>/<path>`` lead: ``<name>`` if it lives there, else
    #: ``<name>-<environment>`` (None: each component where it lives)
    environment: Environment | None = None


class StopExecution(Strict):
    error: str | None = Field(default=None, max_length=256)
    cause: str | None = Field(default=None, max_length=32768)


class TaskSuccess(Strict):
    token: str = Field(min_length=1, max_length=1024)
    output: Any


class TaskFailure(Strict):
    token: str = Field(min_length=1, max_length=1024)
    error: str | None = Field(default=None, max_length=256)
    cause: str | None = Field(default=None, max_length=32768)


class TaskHeartbeat(Strict):
    token: str = Field(min_length=1, max_length=1024)


def _wf_resource(p: dict[str, str]) -> str | None:
    return f"workflow:{p['workflow']}" if "workflow" in p else None


def _ex_resource(p: dict[str, str]) -> str | None:
    return f"execution:{p.get('workflow')}/{p.get('execution')}"


def _with_warnings(body: dict[str, Any], definition: dict[str, Any]) -> dict[str, Any]:
    """The answer, plus the definition's warnings (accepted, as AWS accepts them) when it has any:
    apart from the errors, which refuse the definition with a 422."""
    warnings = wf.definition_warnings(definition)
    return {**body, "warnings": warnings} if warnings else body


@operation(summary="Create a workflow (ASL)", tag=TAG, status=201, response="WorkflowAnswer")
def create_workflow(request: CreateWorkflow) -> Response[dict[str, Any]]:
    ctx = current()
    ctx.resource = f"workflow:{request.name}"
    wf.check_writable(request.name)
    checked = wf.check_definition(request.definition, settings=ctx.services.settings)
    definition = wf.for_orchestrator(ctx.services, checked)
    body = ctx.services.orchestrator.create_workflow(
        request.name, definition, description=request.description, actor=ctx.actor
    )
    return json_response(_with_warnings(body, checked), 201, {"Location": f"/v1/workflows/{request.name}"})


@operation(
    summary="Publish a new version of a workflow", tag=TAG, resource=_wf_resource, response="WorkflowAnswer"
)
def update_workflow(workflow: str, request: UpdateWorkflow) -> dict[str, Any]:
    ctx = current()
    wf.check_writable(workflow)
    checked = wf.check_definition(request.definition, settings=ctx.services.settings)
    definition = wf.for_orchestrator(ctx.services, checked)
    body = ctx.services.orchestrator.update_workflow(
        workflow, definition, description=request.description, actor=ctx.actor
    )
    return _with_warnings(body, checked)


@operation(summary="Get a workflow", tag=TAG, resource=_wf_resource, response="WorkflowAnswer")
def get_workflow(workflow: str, version: Annotated[int | None, lazy.Query(ge=1)] = None) -> dict[str, Any]:
    return current().services.orchestrator.get_workflow(workflow, version)


@operation(summary="List workflows", tag=TAG, response="WorkflowPage")
def list_workflows(
    limit: Annotated[int, lazy.Query(ge=1, le=500)] = 50, cursor: Annotated[str | None, lazy.Query()] = None
) -> dict[str, Any]:
    items, next_cursor = current().services.orchestrator.list_workflows(limit=limit, cursor=cursor)
    return {"items": items, "next_cursor": next_cursor}


@operation(summary="Delete a workflow (executions stay readable)", tag=TAG, status=204, resource=_wf_resource)
def delete_workflow(workflow: str) -> Response[None]:
    wf.check_writable(workflow)
    services = current().services
    services.orchestrator.delete_workflow(workflow)
    ops.forget_starters(services, workflow)
    execution_environments.forget(services, workflow)
    return Response(status_code=204, body=None)


@operation(
    summary="Start an execution (a name makes it idempotent)",
    tag=TAG,
    status=201,
    resource=_wf_resource,
    response="ExecutionAnswer",
)
def start_execution(workflow: str, request: StartExecution) -> Response[dict[str, Any]]:
    ctx = current()
    if is_reserved(workflow):
        raise Forbidden(
            f"{workflow} is a shipped workflow: the deployment manager starts it (deploy, "
            f"update, promote or roll back instead)"
        )
    name = request.name or ex.new_name()
    with (
        ops.starting(ctx.services, workflow, name, ctx.actor, principal=ctx.principal),
        execution_environments.recording(ctx.services, workflow, name, request.environment),
    ):
        body = ctx.services.orchestrator.start(
            workflow,
            name=name,
            input=ex.parse_input(request.input),
            actor=ctx.actor,
            request_id=ctx.request_id,
        )
    ctx.resource = f"execution:{workflow}/{body['name']}"
    return json_response(body, 201, {"Location": f"/v1/workflows/{workflow}/executions/{body['name']}"})


@operation(summary="List a workflow's executions", tag=TAG, resource=_wf_resource, response="ExecutionPage")
def list_executions(
    workflow: str,
    status: Annotated[
        str | None, lazy.Query(pattern="^(RUNNING|SUCCEEDED|FAILED|TIMED_OUT|ABORTED)$")
    ] = None,
    limit: Annotated[int, lazy.Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, lazy.Query()] = None,
) -> dict[str, Any]:
    if not re.match(EXECUTIONS_OF, workflow):  # no workflow has such a name (a deleted one's stay listed)
        raise NotFound(f"no workflow is named {workflow[:100]!r}")
    items, next_cursor = current().services.orchestrator.list_executions(
        workflow, status=status, limit=limit, cursor=cursor
    )
    return {"items": items, "next_cursor": next_cursor}


@operation(summary="Describe an execution", tag=TAG, resource=_ex_resource, response="ExecutionAnswer")
def describe_execution(workflow: str, execution: str) -> dict[str, Any]:
    return current().services.orchestrator.describe(workflow, execution)


@operation(summary="An execution's history events", tag=TAG, resource=_ex_resource, response="HistoryPage")
def execution_history(
    workflow: str,
    execution: str,
    limit: Annotated[int, lazy.Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, lazy.Query()] = None,
    reverse: Annotated[bool, lazy.Query()] = False,
) -> dict[str, Any]:
    items, next_cursor = current().services.orchestrator.history(
        workflow, execution, limit=limit, cursor=cursor, reverse=reverse
    )
    return {"events": items, "next_cursor": next_cursor}


def _drives_a_deployment(services: Any, workflow: str, execution: str) -> bool:
    """Is this execution a deployment's own strategy execution (a custom ``strategy.workflow``)?

    Stopping one rolls its deployment back, so it takes the deployment's control permission."""
    from pilothouse.jsonbounds import loads

    try:
        data = services.orchestrator.describe(workflow, execution).get("input")
        data = loads(data) if isinstance(data, str) else data
    except (NotFound, ValueError):
        return False
    dep_id = data.get("deployment_id") if isinstance(data, dict) else None
    from pilothouse.repositories.deployments import DeploymentRepository

    item = DeploymentRepository(services.store).get(dep_id) if isinstance(dep_id, str) else None
    return item is not None and (item.data.get("workflow"), item.data.get("execution")) == (
        workflow,
        execution,
    )


@operation(summary="Stop (abort) an execution", tag=TAG, resource=_ex_resource, response="ExecutionAnswer")
def stop_execution(workflow: str, execution: str, request: StopExecution | None = None) -> dict[str, Any]:
    ctx = current()
    aborts = is_reserved(workflow) or _drives_a_deployment(ctx.services, workflow, execution)
    if aborts and not (ctx.principal and ctx.principal.can(Permission.DEPLOYMENTS_CONTROL)):
        # stopping a shipped workflow aborts (rolls back) its deployment: the deployment's control
        raise Forbidden(
            f"stopping {workflow} aborts its deployment, which needs the "
            f"{Permission.DEPLOYMENTS_CONTROL.value} permission",
            extra={"required_permission": Permission.DEPLOYMENTS_CONTROL.value},
        )
    request = request or StopExecution()
    return ctx.services.orchestrator.stop(workflow, execution, error=request.error, cause=request.cause)


@operation(
    summary="Redrive a failed execution from where it failed",
    tag=TAG,
    resource=_ex_resource,
    response="ExecutionAnswer",
)
def redrive_execution(workflow: str, execution: str) -> dict[str, Any]:
    if is_reserved(workflow):  # it would act on its deployment again, with the deployment's capability
        raise Forbidden(f"{workflow} is a shipped workflow: retry or roll back the component instead")
    ctx = current()
    with ops.starting(ctx.services, workflow, execution, ctx.actor, redrive=True, principal=ctx.principal):
        return ctx.services.orchestrator.redrive(workflow, execution, actor=ctx.actor)


def _not_a_shipped_task(token: str) -> None:
    """A shipped workflow's gates are answered by the deployment's controls (approve, promote,
    resume, abort), which check their own permissions — not by a bare task token."""
    try:
        workflow, _ = ex.parse_token(token)
    except NotFound:
        return  # not one of the embedded engine's tokens: the orchestrator decides
    if is_reserved(workflow):
        raise Forbidden(
            "this task belongs to a shipped deployment workflow; use the deployment's approve, "
            "promote, resume or abort instead"
        )


@operation(
    summary="Complete a waiting task (SendTaskSuccess)",
    tag=TAG,
    response="ExecutionAnswer",
    errors=(404,),  # no task waits for this token
)
def send_task_success(request: TaskSuccess) -> dict[str, Any]:
    _not_a_shipped_task(request.token)
    return current().services.orchestrator.send_task_success(request.token, _output(request.output))


def _output(value: Any) -> Any:
    """A task's output, parsed as the execution's input is (JSON text or a value): its problem
    names the field ``output``."""
    try:
        return ex.parse_input(value)
    except BadRequest:
        raise BadRequest("output is not valid JSON", extra={"field": "output"}) from None
    except ValidationFailed as exc:
        raise ValidationFailed.field("output", exc.errors[0]["message"]) from None


@operation(
    summary="Fail a waiting task (SendTaskFailure)",
    tag=TAG,
    response="ExecutionAnswer",
    errors=(404,),  # ditto
)
def send_task_failure(request: TaskFailure) -> dict[str, Any]:
    _not_a_shipped_task(request.token)
    return current().services.orchestrator.send_task_failure(request.token, request.error, request.cause)


@operation(
    summary="Report that a waiting task is alive (SendTaskHeartbeat)",
    tag=TAG,
    response="ExecutionAnswer",
    errors=(404,),  # no task waits for this token
)
def send_task_heartbeat(request: TaskHeartbeat) -> dict[str, Any]:
    _not_a_shipped_task(request.token)  # keeping a shipped gate alive is the deployment's business too
    return current().services.orchestrator.send_task_heartbeat(request.token)


OPERATIONS = [
    create_workflow,
    update_workflow,
    get_workflow,
    list_workflows,
    delete_workflow,
    start_execution,
    list_executions,
    describe_execution,
    execution_history,
    stop_execution,
    redrive_execution,
    send_task_success,
    send_task_failure,
    send_task_heartbeat,
]
