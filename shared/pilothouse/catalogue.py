"""The operation catalogue: every function of the suite in one place.

For each function: its name (= its folder under ``functions/``), what triggers it (an HTTP route, a
queue, a schedule, or nothing: a workflow task is invoked by name), the permission an HTTP caller
needs, and the cloud permissions the function itself needs, in a vocabulary each packaging target
translates. ``make infra`` (``tools/gen_infra.py``) renders the function entries of template.yaml and
serverless.yml from this table, and :func:`pilothouse.runtime.operations.operation` reads an endpoint's
method, route and permission here, so a route is written once.

    >>> entry("get_component").trigger.route, entry("get_component").trigger.permission.value
    ('/v1/components/{name}', 'components:read')
    >>> entry("get_component").trigger.resolver_route
    '/v1/components/<name>'

Add an operation: an entry here, the endpoint in ``pilothouse.api``, ``functions/<name>/app.py``,
then ``make infra``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from pilothouse.domain.security import Permission


class Policy(StrEnum):
    """What a function may touch, per kind of resource (least privilege per function)."""

    TABLE_READ = "table:read"
    TABLE_WRITE = "table:write"
    SEND_JOBS = "queue:jobs:send"
    SEND_EXECUTIONS = "queue:executions:send"
    SEND_TASKS = "queue:tasks:send"
    #: operate the components deployed with provider aws-lambda (versions, aliases, metrics...)
    LAMBDA_PROVIDER = "provider:aws-lambda"
    #: Step Functions, only where the orchestrator is Step Functions
    STATES_RUN = "states:run"
    STATES_READ = "states:read"
    STATES_WRITE = "states:write"
    #: answer a Step Functions task token (success, failure, heartbeat)
    TASK_TOKENS = "states:task-tokens"


@dataclass(frozen=True)
class Invoke:
    """Permission to invoke another function of the suite synchronously."""

    function: str


@dataclass(frozen=True)
class Http:
    method: str
    #: API Gateway / OpenAPI spelling: ``/v1/components/{name}``
    route: str
    #: what the caller's role needs; None: public
    permission: Permission | None

    @property
    def resolver_route(self) -> str:
        """The route as Powertools' resolver spells it (``<name>``)."""
        return re.sub(r"\{(\w+)\}", r"<\1>", self.route)


@dataclass(frozen=True)
class Consume:
    """A queue consumer: its reserved concurrency and async dead-letter queue follow from it."""

    queue: str
    batch_size: int
    event: str


@dataclass(frozen=True)
class Every:
    """A schedule: one run at a time, no retry (the next run redoes the work)."""

    expression: str
    event: str


@dataclass(frozen=True)
class OnEvent:
    """An EventBridge rule on events about this stack's own state machines (``source`` aws.states):
    asynchronous, retried, dead-lettered like a schedule's failed runs."""

    detail_type: str
    statuses: tuple[str, ...]
    event: str


@dataclass(frozen=True)
class Task:
    """No trigger: a workflow's Task state (Step Functions or run_task) invokes it by name."""


Trigger = Http | Consume | Every | OnEvent | Task


@dataclass(frozen=True)
class Function:
    name: str
    trigger: Trigger
    policies: tuple[Policy | Invoke, ...]
    #: seconds; None: the packaging's default (29 s, under API Gateway's limit)
    timeout: int | None = None
    #: a comment the generated entries carry
    note: str = ""


def http(method: str, route: str, permission: Permission | None) -> Http:
    return Http(method, route, permission)


def consume(queue: str, *, batch_size: int, event: str) -> Consume:
    return Consume(queue, batch_size, event)


def every(expression: str, *, event: str) -> Every:
    return Every(expression, event)


def on_execution_status(*statuses: str, event: str) -> OnEvent:
    """Step Functions executions of this stack that end with one of ``statuses``."""
    return OnEvent("Step Functions Execution Status Change", statuses, event)


def invoke(function: str) -> Invoke:
    return Invoke(function)


TASK = Task()
PUBLIC = None
TABLE_READ, TABLE_WRITE = Policy.TABLE_READ, Policy.TABLE_WRITE
SEND_JOBS, SEND_EXECUTIONS, SEND_TASKS = Policy.SEND_JOBS, Policy.SEND_EXECUTIONS, Policy.SEND_TASKS
LAMBDA_PROVIDER, TASK_TOKENS = Policy.LAMBDA_PROVIDER, Policy.TASK_TOKENS
STATES_RUN, STATES_READ, STATES_WRITE = Policy.STATES_RUN, Policy.STATES_READ, Policy.STATES_WRITE


#: every function, in the order the generated files list them
FUNCTIONS: tuple[Function, ...] = (
    Function(
        "register_component",
        http("POST", "/v1/components", Permission.COMPONENTS_DEPLOY),
        policies=(TABLE_WRITE,),
    ),
    Function(
        "list_components", http("GET", "/v1/components", Permission.COMPONENTS_READ), policies=(TABLE_READ,)
    ),
    Function(
        "get_component",
        http("GET", "/v1/components/{name}", Permission.COMPONENTS_READ),
        policies=(TABLE_READ,),
    ),
    Function(
        "component_events",
        http("GET", "/v1/components/{name}/events", Permission.COMPONENTS_READ),
        policies=(TABLE_READ,),
    ),
    Function(
        "deregister_component",
        http("DELETE", "/v1/components/{name}", Permission.COMPONENTS_DEPLOY),
        policies=(TABLE_WRITE,),
    ),
    Function(
        "deploy_component",
        http("POST", "/v1/components/{name}/deploy", Permission.COMPONENTS_DEPLOY),
        policies=(TABLE_WRITE, SEND_JOBS),
    ),
    Function(
        "update_component",
        http("POST", "/v1/components/{name}/update", Permission.COMPONENTS_DEPLOY),
        policies=(TABLE_WRITE, SEND_JOBS),
    ),
    Function(
        "scale_component",
        http("POST", "/v1/components/{name}/scale", Permission.COMPONENTS_OPERATE),
        policies=(TABLE_WRITE, SEND_JOBS),
    ),
    Function(
        "stop_component",
        http("POST", "/v1/components/{name}/stop", Permission.COMPONENTS_OPERATE),
        policies=(TABLE_WRITE, SEND_JOBS),
    ),
    Function(
        "retry_component",
        http("POST", "/v1/components/{name}/retry", Permission.COMPONENTS_OPERATE),
        policies=(TABLE_WRITE, SEND_JOBS),
    ),
    Function("create_api_key", http("POST", "/v1/api-keys", Permission.KEYS_ADMIN), policies=(TABLE_WRITE,)),
    Function("list_api_keys", http("GET", "/v1/api-keys", Permission.KEYS_ADMIN), policies=(TABLE_READ,)),
    Function(
        "revoke_api_key",
        http("DELETE", "/v1/api-keys/{key_id}", Permission.KEYS_ADMIN),
        policies=(TABLE_WRITE,),
    ),
    Function("list_audit", http("GET", "/v1/audit", Permission.AUDIT_READ), policies=(TABLE_READ,)),
    Function("health", http("GET", "/v1/health", PUBLIC), policies=()),
    Function("openapi", http("GET", "/v1/openapi.json", PUBLIC), policies=()),
    Function(
        "run_job",
        consume("jobs", batch_size=10, event="Jobs"),
        policies=(TABLE_WRITE, SEND_JOBS, SEND_EXECUTIONS, SEND_TASKS, LAMBDA_PROVIDER, STATES_RUN),
        timeout=900,
    ),
    Function(
        "sweep", every("rate(1 minute)", event="EveryMinute"), policies=(TABLE_WRITE, SEND_JOBS), timeout=120
    ),
    Function(
        "create_workflow",
        http("POST", "/v1/workflows", Permission.WORKFLOWS_WRITE),
        policies=(TABLE_WRITE, STATES_READ, STATES_WRITE),
    ),
    Function(
        "update_workflow",
        http("PUT", "/v1/workflows/{workflow}", Permission.WORKFLOWS_WRITE),
        policies=(TABLE_WRITE, STATES_READ, STATES_WRITE),
    ),
    Function(
        "get_workflow",
        http("GET", "/v1/workflows/{workflow}", Permission.WORKFLOWS_READ),
        policies=(TABLE_READ, STATES_READ),
    ),
    Function(
        "list_workflows",
        http("GET", "/v1/workflows", Permission.WORKFLOWS_READ),
        policies=(TABLE_READ, STATES_READ),
    ),
    Function(
        "delete_workflow",
        http("DELETE", "/v1/workflows/{workflow}", Permission.WORKFLOWS_WRITE),
        policies=(TABLE_WRITE, STATES_READ, STATES_WRITE),
    ),
    Function(
        "start_execution",
        http("POST", "/v1/workflows/{workflow}/executions", Permission.EXECUTIONS_RUN),
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, STATES_RUN),
    ),
    Function(
        "list_executions",
        http("GET", "/v1/workflows/{workflow}/executions", Permission.WORKFLOWS_READ),
        policies=(TABLE_READ, STATES_READ),
    ),
    Function(
        "describe_execution",
        http("GET", "/v1/workflows/{workflow}/executions/{execution}", Permission.WORKFLOWS_READ),
        policies=(TABLE_READ, STATES_READ),
    ),
    Function(
        "execution_history",
        http("GET", "/v1/workflows/{workflow}/executions/{execution}/history", Permission.WORKFLOWS_READ),
        policies=(TABLE_READ, STATES_READ),
    ),
    Function(
        "stop_execution",
        http("POST", "/v1/workflows/{workflow}/executions/{execution}/stop", Permission.EXECUTIONS_RUN),
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, STATES_RUN),
    ),
    Function(
        "redrive_execution",
        http("POST", "/v1/workflows/{workflow}/executions/{execution}/redrive", Permission.EXECUTIONS_RUN),
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, STATES_RUN),
    ),
    Function(
        "send_task_success",
        http("POST", "/v1/task-tokens/success", Permission.EXECUTIONS_RUN),
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, STATES_RUN),
    ),
    Function(
        "send_task_failure",
        http("POST", "/v1/task-tokens/failure", Permission.EXECUTIONS_RUN),
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, STATES_RUN),
    ),
    Function(
        "send_task_heartbeat",
        http("POST", "/v1/task-tokens/heartbeat", Permission.EXECUTIONS_RUN),
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, STATES_RUN),
    ),
    Function(
        "run_execution",
        consume("executions", batch_size=10, event="Steps"),
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS),
        timeout=60,
    ),
    Function(
        "run_task",
        consume("tasks", batch_size=1, event="Tasks"),
        policies=(
            TABLE_WRITE,
            SEND_EXECUTIONS,
            SEND_TASKS,
            invoke("deployment_prepare"),
            invoke("deployment_shift"),
            invoke("deployment_replicas"),
            invoke("deployment_health"),
            invoke("deployment_analyze"),
            invoke("deployment_gate"),
            invoke("deployment_finalize"),
            invoke("deployment_rollback"),
            invoke("deployment_failed"),
            invoke("promotion_start"),
        ),
        timeout=900,
    ),
    Function(
        "run_task_message",
        consume("task_messages", batch_size=1, event="TaskMessages"),
        policies=(
            TABLE_WRITE,
            SEND_JOBS,
            SEND_EXECUTIONS,
            SEND_TASKS,
            LAMBDA_PROVIDER,
            TASK_TOKENS,
            STATES_RUN,
        ),
        timeout=900,
        note=(
            "Tasks that state machines built with PILOTHOUSE_SFN_TASK_TRANSPORT=sqs send as messages: it\n"
            "runs the named task function in-process and answers Step Functions with the task token."
        ),
    ),
    Function(
        "workflow_sweep",
        every("rate(1 minute)", event="EveryMinute"),
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS),
        timeout=120,
    ),
    Function(
        "execution_status_changed",
        on_execution_status("FAILED", "TIMED_OUT", "ABORTED", event="ExecutionEnded"),
        policies=(TABLE_WRITE, STATES_READ, STATES_RUN),
        timeout=60,
        note=(
            "A Step Functions execution of this stack ended badly: the execution listeners (the deployment\n"
            "manager) settle what it left unsettled, as the embedded executor does itself. The rule matches\n"
            "the stack's own state machines only; the function describes the execution again before it acts."
        ),
    ),
    Function(
        "list_deployments", http("GET", "/v1/deployments", Permission.COMPONENTS_READ), policies=(TABLE_READ,)
    ),
    Function(
        "get_deployment",
        http("GET", "/v1/deployments/{deployment_id}", Permission.COMPONENTS_READ),
        policies=(TABLE_READ,),
    ),
    Function(
        "deployment_events",
        http("GET", "/v1/deployments/{deployment_id}/events", Permission.COMPONENTS_READ),
        policies=(TABLE_READ,),
    ),
    Function(
        "approve_deployment",
        http("POST", "/v1/deployments/{deployment_id}/approve", Permission.DEPLOYMENTS_APPROVE),
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, STATES_RUN),
    ),
    Function(
        "reject_deployment",
        http("POST", "/v1/deployments/{deployment_id}/reject", Permission.DEPLOYMENTS_APPROVE),
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, STATES_RUN),
    ),
    Function(
        "promote_deployment",
        http("POST", "/v1/deployments/{deployment_id}/promote", Permission.DEPLOYMENTS_CONTROL),
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, STATES_RUN),
    ),
    Function(
        "pause_deployment",
        http("POST", "/v1/deployments/{deployment_id}/pause", Permission.DEPLOYMENTS_CONTROL),
        policies=(TABLE_WRITE,),
    ),
    Function(
        "resume_deployment",
        http("POST", "/v1/deployments/{deployment_id}/resume", Permission.DEPLOYMENTS_CONTROL),
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, STATES_RUN),
    ),
    Function(
        "abort_deployment",
        http("POST", "/v1/deployments/{deployment_id}/abort", Permission.DEPLOYMENTS_CONTROL),
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, STATES_RUN),
    ),
    Function(
        "rollback_deployment",
        http("POST", "/v1/deployments/{deployment_id}/rollback", Permission.DEPLOYMENTS_CONTROL),
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, STATES_RUN),
    ),
    Function(
        "rollback_component",
        http("POST", "/v1/components/{name}/rollback", Permission.DEPLOYMENTS_CONTROL),
        policies=(TABLE_WRITE, SEND_JOBS, SEND_EXECUTIONS, SEND_TASKS, STATES_RUN),
    ),
    Function("list_freezes", http("GET", "/v1/freezes", Permission.COMPONENTS_READ), policies=(TABLE_READ,)),
    Function("freeze", http("POST", "/v1/freezes", Permission.FREEZE), policies=(TABLE_WRITE,)),
    Function(
        "unfreeze", http("DELETE", "/v1/freezes/{scope}/{target}", Permission.FREEZE), policies=(TABLE_WRITE,)
    ),
    Function(
        "start_promotion",
        http("POST", "/v1/promotions", Permission.COMPONENTS_DEPLOY),
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, STATES_RUN),
    ),
    Function("deployment_prepare", TASK, policies=(TABLE_WRITE, LAMBDA_PROVIDER), timeout=300),
    Function("deployment_shift", TASK, policies=(TABLE_WRITE, LAMBDA_PROVIDER), timeout=300),
    Function("deployment_replicas", TASK, policies=(TABLE_WRITE, LAMBDA_PROVIDER), timeout=300),
    Function("deployment_health", TASK, policies=(TABLE_WRITE, LAMBDA_PROVIDER), timeout=300),
    Function("deployment_analyze", TASK, policies=(TABLE_WRITE, LAMBDA_PROVIDER), timeout=300),
    Function(
        "deployment_gate", TASK, policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, STATES_RUN), timeout=300
    ),
    Function(
        "deployment_finalize",
        TASK,
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, LAMBDA_PROVIDER, STATES_RUN),
        timeout=300,
    ),
    Function(
        "deployment_rollback",
        TASK,
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, LAMBDA_PROVIDER, STATES_RUN),
        timeout=300,
    ),
    Function(
        "deployment_failed",
        TASK,
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, LAMBDA_PROVIDER, STATES_RUN),
        timeout=300,
    ),
    Function(
        "promotion_start",
        TASK,
        policies=(TABLE_WRITE, SEND_JOBS, SEND_EXECUTIONS, SEND_TASKS, STATES_RUN),
        timeout=300,
    ),
    Function("verify_audit", http("GET", "/v1/audit/verify", Permission.AUDIT_READ), policies=(TABLE_READ,)),
    Function("export_audit", http("GET", "/v1/audit/export", Permission.AUDIT_READ), policies=(TABLE_READ,)),
    Function(
        "create_policy", http("POST", "/v1/policies", Permission.POLICIES_WRITE), policies=(TABLE_WRITE,)
    ),
    Function(
        "list_policies", http("GET", "/v1/policies", Permission.COMPONENTS_READ), policies=(TABLE_READ,)
    ),
    Function(
        "get_policy", http("GET", "/v1/policies/{name}", Permission.COMPONENTS_READ), policies=(TABLE_READ,)
    ),
    Function(
        "update_policy",
        http("PUT", "/v1/policies/{name}", Permission.POLICIES_WRITE),
        policies=(TABLE_WRITE,),
    ),
    Function(
        "delete_policy",
        http("DELETE", "/v1/policies/{name}", Permission.POLICIES_WRITE),
        policies=(TABLE_WRITE,),
    ),
    Function(
        "test_policy", http("POST", "/v1/policies/test", Permission.POLICIES_WRITE), policies=(TABLE_READ,)
    ),
)

_BY_NAME = {f.name: f for f in FUNCTIONS}


def entry(name: str) -> Function:
    """The catalogue entry of function ``name`` (KeyError names what is missing)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(
            f"{name!r} is not in the operation catalogue (shared/pilothouse/catalogue.py)"
        ) from None
