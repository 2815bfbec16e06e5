"""The public operations a user workflow's Task may call, run as the principal who started it.

Each operation is the service call behind one HTTP endpoint, with that endpoint's permission. When a
task runs, the principal recorded on the execution at start (``started_by``) is looked up again: a
key revoked or expired since then, or one whose role lacks the permission, fails the task with
``Pilothouse.Forbidden``. Every mutation and every refusal is audited like an API call.

``strategy_step`` is the one door from a user's *strategy* workflow (``strategy.workflow`` of a
deploy) to the deployment steps: it acts only on the deployment the execution was started for, as
its initiator, and never hands the deployment's capability token out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pilothouse.domain.components import DeployRequest, RetryRequest, ScaleRequest, UpdateRequest
from pilothouse.domain.lifecycle import Command
from pilothouse.domain.security import Permission, Principal
from pilothouse.errors import Forbidden, PilothouseError
from pilothouse.services.context import ServiceContext
from pilothouse.services.workflow_grants import principal_of

ERROR_FORBIDDEN = "Pilothouse.Forbidden"


@dataclass(frozen=True)
class Caller:
    """The execution a task belongs to (server-side facts, never taken from the task's payload)."""

    workflow: str
    execution: str
    execution_arn: str
    principal_id: str
    task_id: str
    state_name: str | None = None


class OperationFailed(Exception):
    """The operation refused or failed: ``error`` is the ASL error name, ``message`` the cause."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(f"{error}: {message}")
        self.error = error
        self.message = message


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComponentArgs(Args):
    name: str = Field(min_length=1, max_length=100)


class ListComponentsArgs(Args):
    state: str | None = None
    environment: str | None = None
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = None


class DeployArgs(DeployRequest):
    name: str = Field(min_length=1, max_length=100)


class UpdateArgs(UpdateRequest):
    name: str = Field(min_length=1, max_length=100)


class ScaleArgs(ScaleRequest):
    name: str = Field(min_length=1, max_length=100)


class RetryArgs(RetryRequest):
    name: str = Field(min_length=1, max_length=100)


class DeploymentArgs(Args):
    deployment_id: str = Field(min_length=1, max_length=100)


class ListDeploymentsArgs(Args):
    component: str | None = None
    environment: str | None = None
    status: str | None = None
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = None


class PromoteArgs(DeploymentArgs):
    full: bool = False


class AbortArgs(DeploymentArgs):
    reason: str = Field(default="", max_length=2000)


class StrategyStepArgs(DeploymentArgs):
    action: Literal["prepare", "shift", "replicas", "health", "analyze", "gate", "finalize", "rollback"]
    index: int | None = Field(default=None, ge=0)
    kind: Literal["gate", "pause", "approval"] | None = None
    token: str | None = Field(default=None, max_length=1024)
    seconds: int | None = None
    error: dict[str, Any] | None = None
    #: the step passes its gate itself (a pause or abort checked before it starts; see the plan workflow)
    gated: bool | None = None


@dataclass(frozen=True)
class Operation:
    permission: Permission
    args: type[BaseModel]
    run: Callable[[ServiceContext, Principal, Any, Caller], Any]
    mutating: bool
    summary: str

    def target(self, args: Any) -> str | None:
        if hasattr(args, "name"):
            return f"component:{args.name}"
        if hasattr(args, "deployment_id"):
            return f"deployment:{args.deployment_id}"
        return None


# -- the operations ------------------------------------------------------------------------------


def _command(cmd: Command, exclude: set[str] | None = None):
    def run(services: ServiceContext, principal: Principal, args: Any, caller: Caller) -> dict:
        from pilothouse.services import components

        params = args.model_dump(exclude={"name", *(exclude or set())}, exclude_none=True)
        return components.command(
            services,
            args.name,
            cmd,
            params,
            actor=principal.id,
            request_id=f"{caller.execution_arn}#{caller.task_id}",
        )

    return run


def _get_component(services, principal, args, caller):
    from pilothouse.services import components

    return components.view(components.get(services, args.name))


def _list_components(services, principal, args, caller):
    from pilothouse.services import components

    items, cursor = components.list_components(services, **args.model_dump())
    return {"items": items, "next_cursor": cursor}


def _get_deployment(services, principal, args, caller):
    from pilothouse.services import deployments

    return deployments.view(deployments.get(services, args.deployment_id))


def _list_deployments(services, principal, args, caller):
    from pilothouse.services import deployments

    items, cursor = deployments.list_deployments(services, **args.model_dump())
    return {"items": [deployments.view(d) for d in items], "next_cursor": cursor}


def _control(name: str):
    def run(services, principal, args, caller):
        from pilothouse.services import deployments

        extra = args.model_dump(exclude={"deployment_id"})
        control = getattr(deployments, name)
        return deployments.view(control(services, args.deployment_id, actor=principal.id, **extra))

    return run


def _strategy_step(services, principal, args, caller):
    """A deployment step for a user's strategy workflow, on its own deployment only."""
    from pilothouse.services import deployment_tasks, deployments

    dep = deployments.get(services, args.deployment_id)
    if (dep.get("workflow"), dep.get("execution")) != (caller.workflow, caller.execution):
        raise Forbidden(
            f"strategy_step acts only on the deployment its strategy execution was started "
            f"for; {caller.workflow}/{caller.execution} was not started for deployment "
            f"{args.deployment_id}"
        )
    payload = args.model_dump(exclude={"action"}, exclude_none=True)
    return deployment_tasks.run_step(services, args.action, payload)


OPERATIONS: dict[str, Operation] = {
    "get_component": Operation(
        Permission.COMPONENTS_READ, ComponentArgs, _get_component, False, "a component ({name})"
    ),
    "list_components": Operation(
        Permission.COMPONENTS_READ,
        ListComponentsArgs,
        _list_components,
        False,
        "components ({state, environment, limit, cursor})",
    ),
    "deploy_component": Operation(
        Permission.COMPONENTS_DEPLOY,
        DeployArgs,
        _command(Command.DEPLOY),
        True,
        "deploy a registered component ({name, version, strategy})",
    ),
    "update_component": Operation(
        Permission.COMPONENTS_DEPLOY,
        UpdateArgs,
        _command(Command.UPDATE),
        True,
        "roll to a new version/config ({name, version, config, strategy})",
    ),
    "scale_component": Operation(
        Permission.COMPONENTS_OPERATE,
        ScaleArgs,
        _command(Command.SCALE),
        True,
        "change replicas ({name, replicas})",
    ),
    "stop_component": Operation(
        Permission.COMPONENTS_OPERATE,
        ComponentArgs,
        _command(Command.STOP),
        True,
        "stop a running component ({name})",
    ),
    "retry_component": Operation(
        Permission.COMPONENTS_OPERATE,
        RetryArgs,
        _command(Command.RETRY),
        True,
        "deploy a failed component again ({name, strategy})",
    ),
    "get_deployment": Operation(
        Permission.COMPONENTS_READ, DeploymentArgs, _get_deployment, False, "a deployment ({deployment_id})"
    ),
    "list_deployments": Operation(
        Permission.COMPONENTS_READ,
        ListDeploymentsArgs,
        _list_deployments,
        False,
        "deployments ({component, environment, status, limit, cursor})",
    ),
    "pause_deployment": Operation(
        Permission.DEPLOYMENTS_CONTROL,
        DeploymentArgs,
        _control("pause"),
        True,
        "pause before the next step ({deployment_id})",
    ),
    "resume_deployment": Operation(
        Permission.DEPLOYMENTS_CONTROL,
        DeploymentArgs,
        _control("resume"),
        True,
        "resume a paused deployment ({deployment_id})",
    ),
    "promote_deployment": Operation(
        Permission.DEPLOYMENTS_CONTROL,
        PromoteArgs,
        _control("promote"),
        True,
        "end the current pause ({deployment_id, full})",
    ),
    "abort_deployment": Operation(
        Permission.DEPLOYMENTS_CONTROL,
        AbortArgs,
        _control("abort"),
        True,
        "abort and roll back ({deployment_id, reason})",
    ),
    "strategy_step": Operation(
        Permission.COMPONENTS_DEPLOY,
        StrategyStepArgs,
        _strategy_step,
        True,
        "a step of the deployment this strategy workflow runs ({deployment_id, action, index, kind, token})",
    ),
}


def _check_pipeline(services, principal, args, caller):
    from pilothouse.services.artifacts import ERROR_INVALID, PipelineInvalid, check_pipeline

    try:
        return check_pipeline(args.yaml)
    except PipelineInvalid as exc:
        raise OperationFailed(ERROR_INVALID, str(exc)) from None


def _put_artifact(services, principal, args, caller):
    from pilothouse.services.artifacts import put_artifact

    return put_artifact(services, caller.workflow, caller.execution, args)


def _artifact_operations() -> dict[str, Operation]:
    from pilothouse.services.artifacts import CheckPipelineArgs, PutArtifactArgs

    return {
        "check_pipeline": Operation(
            Permission.WORKFLOWS_READ,
            CheckPipelineArgs,
            _check_pipeline,
            False,
            "check GitHub Actions YAML: its jobs and step names ({yaml}); Pipeline.Invalid if not",
        ),
        "put_artifact": Operation(
            Permission.EXECUTIONS_RUN,
            PutArtifactArgs,
            _put_artifact,
            True,
            "keep a result as a blob under artifacts/<workflow>/<execution>/ ({filename, content})",
        ),
    }


OPERATIONS.update(_artifact_operations())


# -- running one -----------------------------------------------------------------------------------


STARTERS = "WORKFLOW_STARTER"  # partition: who started each execution on Step Functions


def record_starter(
    services: ServiceContext, workflow: str, name: str, principal_id: str, *, redrive: bool = False
) -> None:
    """On Step Functions, remember who starts execution ``name`` (the first start wins) or redrives
    it (from then on it acts as them); the engine keeps this on the execution record itself."""
    from pilothouse.errors import AlreadyExists, VersionConflict
    from pilothouse.ports import Item

    if services.settings.orchestrator == "embedded":
        return
    with contextlib.suppress(AlreadyExists, VersionConflict):
        services.store.put(
            Item(STARTERS, f"{workflow}#{name}", {"principal": principal_id}), if_absent=not redrive
        )


@contextlib.contextmanager
def starting(
    services: ServiceContext,
    workflow: str,
    name: str,
    principal_id: str,
    *,
    redrive: bool = False,
    principal: Principal | None = None,
):
    """Record the starter (see :func:`record_starter`) and, for an OIDC ``principal``, its grant
    (:mod:`pilothouse.services.workflow_grants`) around a start or redrive: if the call fails,
    both are put back as they were, so a refused redrive or a failed start changes nobody's
    permissions."""
    from pilothouse.services.workflow_grants import granting

    with granting(services, principal), _starter(services, workflow, name, principal_id, redrive=redrive):
        yield


@contextlib.contextmanager
def _starter(services: ServiceContext, workflow: str, name: str, principal_id: str, *, redrive: bool):
    if services.settings.orchestrator == "embedded":
        yield
        return
    before = services.store.get(STARTERS, f"{workflow}#{name}")
    record_starter(services, workflow, name, principal_id, redrive=redrive)
    try:
        yield
    except BaseException:
        if before is None:
            services.store.delete(STARTERS, f"{workflow}#{name}")
        else:
            services.store.put(before.__class__(STARTERS, before.sk, before.data))
        raise


def forget_starters(services: ServiceContext, workflow: str) -> None:
    """A deleted workflow's executions act for nobody any more (a new one may reuse their names)."""
    for item in services.store.scan_all(STARTERS, f"{workflow}#"):
        services.store.delete(STARTERS, item.sk)


def starter_of(services: ServiceContext, workflow: str, name: str) -> str | None:
    item = services.store.get(STARTERS, f"{workflow}#{name}")
    return item.data["principal"] if item is not None else None


def _audit(
    services: ServiceContext,
    caller: Caller,
    name: str,
    target: str | None,
    status: int,
    detail: str,
    policies: list[dict[str, Any]] | None = None,
) -> None:
    from pilothouse.services import audit

    audit.record(
        services,
        principal=caller.principal_id,
        operation=name,
        target=target,
        request_id=f"{caller.execution_arn}#{caller.task_id}",
        status=status,
        detail=f"workflow task {caller.workflow}/{caller.execution} ({caller.state_name}): {detail}",
        policies=policies or None,
    )


def _admit(
    services: ServiceContext, principal: Principal, name: str, op: Operation, args: Any
) -> list[dict[str, Any]]:
    """A task's admission, as an API request's (environment roles, deployment policies); a
    strategy execution's own deployment steps and the system principal are not judged."""
    from pilothouse.services.admission import admit_task

    if name == "strategy_step" or principal.kind == "system":
        return []
    params = {}
    if hasattr(args, "name"):
        params["name"] = args.name
    elif hasattr(args, "deployment_id"):
        params["deployment_id"] = args.deployment_id
    body = args.model_dump(mode="json", exclude={"name", "deployment_id"}, exclude_none=True)
    return admit_task(
        services,
        principal,
        operation=name,
        permission=op.permission,
        mutating=op.mutating,
        params=params,
        body=body,
    )


def run(services: ServiceContext, caller: Caller, name: str, payload: Any) -> Any:
    """Run public operation ``name`` for ``caller``; :class:`OperationFailed` if refused or failed."""
    op = OPERATIONS[name]
    try:
        args = op.args.model_validate(payload if payload is not None else {})
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise OperationFailed("Pilothouse.ValidationFailed", f"{name}: {fields}") from None
    target = op.target(args)
    try:
        principal = principal_of(services, caller.principal_id)
        if not principal.can(op.permission):
            raise Forbidden(
                f"{name} needs the {op.permission.value} permission, which {principal.id} "
                f"({principal.role.label}), for whom this execution acts, does not hold"
            )
        decisions = _admit(services, principal, name, op, args)
    except Forbidden as exc:
        _audit(services, caller, name, target, exc.status, exc.detail, exc.extra.get("decisions"))
        raise OperationFailed(ERROR_FORBIDDEN, exc.detail) from None
    except PilothouseError as exc:  # a deploy window (409)
        _audit(services, caller, name, target, exc.status, exc.detail, exc.extra.get("decisions"))
        raise OperationFailed(f"Pilothouse.{type(exc).__name__}", exc.detail) from None
    try:
        result = op.run(services, principal, args, caller)
    except PilothouseError as exc:
        if op.mutating or exc.status == 403:
            _audit(services, caller, name, target, exc.status, exc.detail)
        error = ERROR_FORBIDDEN if exc.status == 403 else f"Pilothouse.{type(exc).__name__}"
        raise OperationFailed(error, exc.detail) from None
    if op.mutating:
        _audit(services, caller, name, target, 200, "done", decisions)
    return result
