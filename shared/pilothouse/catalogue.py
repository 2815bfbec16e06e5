"""The operation catalogue: every function of the suite in one place.

For each function: its name (= its folder under ``functions/``), what triggers it (an HTTP route, a
queue, a schedule, or nothing: a workflow task is invoked by name), the permission an HTTP caller
needs, and the cloud permissions the function itself needs, in a vocabulary each packaging target
translates. ``make infra`` (``tools/gen_infra.py``) renders the function entries of template.yaml and
serverless.yml from this table, and the table of routes :func:`pilothouse.runtime.operations.operation`
reads an endpoint's method, route and permission from (``pilothouse.runtime.catalogue_routes``: an
HTTP function's cold start does not build this module), so a route is written once.

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
    SEND_NOTIFICATIONS = "queue:notifications:send"
    #: operate the components deployed with provider aws-lambda (versions, aliases, metrics...)
    LAMBDA_PROVIDER = "provider:aws-lambda"
    #: Step Functions, only where the orchestrator is Step Functions
    STATES_RUN = "states:run"
    STATES_READ = "states:read"
    STATES_WRITE = "states:write"
    #: answer a Step Functions task token (success, failure, heartbeat)
    TASK_TOKENS = "states:task-tokens"
    #: read, write and delete backups in the backup bucket; wrap and unwrap data keys with the key
    BACKUPS = "backups:read-write"
    #: write, read and delete secret values in Secrets Manager / SSM under Pilothouse's prefix
    SECRET_VALUES = "secrets:values"
    SEND_HEALTH = "queue:health:send"


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
    #: more routes of the same method served by the same function (the dashboard's ``/{proxy+}``)
    extra_routes: tuple[str, ...] = ()

    @property
    def routes(self) -> tuple[str, ...]:
        """Every route of the function, its own first."""
        return (self.route, *self.extra_routes)

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


def http(method: str, route: str, permission: Permission | None, *extra_routes: str) -> Http:
    return Http(method, route, permission, tuple(extra_routes))


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
SEND_NOTIFICATIONS = Policy.SEND_NOTIFICATIONS
LAMBDA_PROVIDER, TASK_TOKENS = Policy.LAMBDA_PROVIDER, Policy.TASK_TOKENS
STATES_RUN, STATES_READ, STATES_WRITE = Policy.STATES_RUN, Policy.STATES_READ, Policy.STATES_WRITE
BACKUPS = Policy.BACKUPS
SEND_HEALTH = Policy.SEND_HEALTH


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
        # BACKUPS: it also carries out backup runs (create, verify, restore, drill)
        policies=(TABLE_WRITE, SEND_JOBS, SEND_EXECUTIONS, SEND_TASKS, LAMBDA_PROVIDER, STATES_RUN, BACKUPS),
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
            invoke("system_advance"),
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
    # -- backups (issue 12): the long work runs as operations on the jobs queue (run_job) --------
    Function(
        "list_backups", http("GET", "/v1/backups", Permission.BACKUPS_ADMIN), policies=(TABLE_READ, BACKUPS)
    ),
    Function(
        "get_backup",
        http("GET", "/v1/backups/{backup_id}", Permission.BACKUPS_ADMIN),
        policies=(TABLE_READ, BACKUPS),
    ),
    Function(
        "create_backup",
        http("POST", "/v1/backups", Permission.BACKUPS_ADMIN),
        policies=(TABLE_WRITE, SEND_JOBS, BACKUPS),
    ),
    Function(
        "verify_backup",
        http("POST", "/v1/backups/{backup_id}/verify", Permission.BACKUPS_ADMIN),
        policies=(TABLE_WRITE, SEND_JOBS, BACKUPS),
    ),
    Function(
        "restore_backup",
        http("POST", "/v1/backups/{backup_id}/restore", Permission.BACKUPS_ADMIN),
        policies=(TABLE_WRITE, SEND_JOBS, BACKUPS),
    ),
    Function(
        "drill_backup",
        http("POST", "/v1/backups/{backup_id}/drill", Permission.BACKUPS_ADMIN),
        policies=(TABLE_WRITE, SEND_JOBS, BACKUPS),
    ),
    Function(
        "delete_backup",
        http("DELETE", "/v1/backups/{backup_id}", Permission.BACKUPS_ADMIN),
        policies=(TABLE_WRITE, BACKUPS),
    ),
    Function(
        "get_backup_run",
        http("GET", "/v1/backup-runs/{run_id}", Permission.BACKUPS_ADMIN),
        policies=(TABLE_READ,),
    ),
    Function(
        "list_backup_events",
        http("GET", "/v1/backup-events", Permission.BACKUPS_ADMIN),
        policies=(TABLE_READ,),
    ),
    Function(
        "backup_sweep",
        every("rate(1 hour)", event="EveryHour"),
        policies=(TABLE_WRITE, BACKUPS),
        timeout=900,
        note=(
            "Takes a backup when the newest is older than PILOTHOUSE_BACKUP_INTERVAL_SECONDS (daily by\n"
            "default), applies retention, and records an event when the RPO target is missed."
        ),
    ),
    Function(
        "backup_drill_sweep",
        every("rate(1 day)", event="EveryDay"),
        policies=(TABLE_WRITE, BACKUPS),
        timeout=900,
        note=(
            "Restores the newest backup into a scratch store (in /tmp) when the last drill is older than\n"
            "PILOTHOUSE_BACKUP_DRILL_INTERVAL_SECONDS (weekly by default); records RPO and RTO as an event."
        ),
    ),
    # -- configuration (issue 13) --
    Function(
        "get_component_config",
        http("GET", "/v1/components/{name}/config", Permission.COMPONENTS_READ),
        policies=(TABLE_READ,),
        timeout=30,
    ),
    Function(
        "set_component_config",
        http("PUT", "/v1/components/{name}/config", Permission.COMPONENTS_DEPLOY),
        policies=(TABLE_WRITE, SEND_JOBS),
    ),
    Function(
        "component_config_history",
        http("GET", "/v1/components/{name}/config/versions", Permission.COMPONENTS_READ),
        policies=(TABLE_READ,),
    ),
    Function(
        "component_config_diff",
        http("GET", "/v1/components/{name}/config/diff", Permission.COMPONENTS_READ),
        policies=(TABLE_READ,),
    ),
    Function(
        "rollback_component_config",
        http("POST", "/v1/components/{name}/config/rollback", Permission.COMPONENTS_DEPLOY),
        policies=(TABLE_WRITE, SEND_JOBS),
    ),
    Function(
        "put_config_set",
        http("PUT", "/v1/config-sets/{set_name}", Permission.COMPONENTS_DEPLOY),
        policies=(TABLE_WRITE, SEND_JOBS),
    ),
    Function(
        "get_config_set",
        http("GET", "/v1/config-sets/{set_name}", Permission.COMPONENTS_READ),
        policies=(TABLE_READ,),
    ),
    Function(
        "put_environment_config",
        http("PUT", "/v1/environments/{environment}/config", Permission.COMPONENTS_DEPLOY),
        policies=(TABLE_WRITE, SEND_JOBS),
    ),
    Function(
        "get_environment_config",
        http("GET", "/v1/environments/{environment}/config", Permission.COMPONENTS_READ),
        policies=(TABLE_READ,),
    ),
    # -- secrets (issue 13) --
    Function(
        "create_secret",
        http("POST", "/v1/secrets", Permission.SECRETS_WRITE),
        policies=(TABLE_WRITE, Policy.SECRET_VALUES),
    ),
    Function(
        "list_secrets",
        http("GET", "/v1/secrets", Permission.SECRETS_READ),
        policies=(TABLE_READ,),
    ),
    Function(
        "describe_secret",
        http("GET", "/v1/secrets/{secret_name}", Permission.SECRETS_READ),
        policies=(TABLE_READ,),
    ),
    Function(
        "rotate_secret",
        http("POST", "/v1/secrets/{secret_name}/rotate", Permission.SECRETS_WRITE),
        policies=(TABLE_WRITE, SEND_JOBS, Policy.SECRET_VALUES),
    ),
    Function(
        "delete_secret",
        http("DELETE", "/v1/secrets/{secret_name}", Permission.SECRETS_WRITE),
        policies=(TABLE_WRITE, Policy.SECRET_VALUES),
    ),
    # -- notifications and alerts (issue 11 §3, §4) ---------------------------------------------
    Function(
        "create_notification_channel",
        http("POST", "/v1/notifications/channels", Permission.NOTIFICATIONS_WRITE),
        policies=(TABLE_WRITE,),
    ),
    Function(
        "list_notification_channels",
        http("GET", "/v1/notifications/channels", Permission.NOTIFICATIONS_READ),
        policies=(TABLE_READ,),
    ),
    Function(
        "get_notification_channel",
        http("GET", "/v1/notifications/channels/{name}", Permission.NOTIFICATIONS_READ),
        policies=(TABLE_READ,),
    ),
    Function(
        "delete_notification_channel",
        http("DELETE", "/v1/notifications/channels/{name}", Permission.NOTIFICATIONS_WRITE),
        policies=(TABLE_WRITE,),
    ),
    Function(
        "test_notification_channel",
        http("POST", "/v1/notifications/channels/{name}/test", Permission.NOTIFICATIONS_SEND),
        policies=(TABLE_WRITE, SEND_NOTIFICATIONS),
    ),
    Function(
        "list_notification_deliveries",
        http("GET", "/v1/notifications/channels/{name}/deliveries", Permission.NOTIFICATIONS_READ),
        policies=(TABLE_READ,),
    ),
    Function(
        "redeliver_notification",
        http(
            "POST",
            "/v1/notifications/channels/{name}/deliveries/{delivery}/redeliver",
            Permission.NOTIFICATIONS_SEND,
        ),
        policies=(TABLE_WRITE, SEND_NOTIFICATIONS),
    ),
    Function(
        "deliver_notifications",
        consume("notifications", batch_size=10, event="Notifications"),
        policies=(TABLE_WRITE, SEND_NOTIFICATIONS),
        timeout=60,
    ),
    Function(
        "dispatch_events",
        every("rate(1 minute)", event="EveryMinute"),
        policies=(TABLE_WRITE, SEND_NOTIFICATIONS),
        timeout=120,
    ),
    Function(
        "create_alert_rule",
        http("POST", "/v1/alerts/rules", Permission.ALERTS_WRITE),
        policies=(TABLE_WRITE,),
    ),
    Function(
        "list_alert_rules", http("GET", "/v1/alerts/rules", Permission.ALERTS_READ), policies=(TABLE_READ,)
    ),
    Function(
        "get_alert_rule",
        http("GET", "/v1/alerts/rules/{name}", Permission.ALERTS_READ),
        policies=(TABLE_READ,),
    ),
    Function(
        "delete_alert_rule",
        http("DELETE", "/v1/alerts/rules/{name}", Permission.ALERTS_WRITE),
        policies=(TABLE_WRITE,),
    ),
    Function("list_alerts", http("GET", "/v1/alerts", Permission.ALERTS_READ), policies=(TABLE_READ,)),
    Function("get_alert", http("GET", "/v1/alerts/{name}", Permission.ALERTS_READ), policies=(TABLE_READ,)),
    Function(
        "ack_alert", http("POST", "/v1/alerts/{name}/ack", Permission.ALERTS_OPERATE), policies=(TABLE_WRITE,)
    ),
    Function(
        "silence_alert",
        http("POST", "/v1/alerts/{name}/silence", Permission.ALERTS_OPERATE),
        policies=(TABLE_WRITE,),
    ),
    Function(
        "alert_sweep",
        every("rate(1 minute)", event="EveryMinute"),
        policies=(TABLE_WRITE, SEND_NOTIFICATIONS, LAMBDA_PROVIDER),
        timeout=120,
    ),
    Function("put_metrics", http("POST", "/v1/metrics", Permission.METRICS_WRITE), policies=(TABLE_WRITE,)),
    Function(
        "component_metrics",
        http("GET", "/v1/components/{name}/metrics", Permission.METRICS_READ),
        policies=(TABLE_READ,),
    ),
    Function(
        "prometheus_metrics",
        http("GET", "/v1/metrics/prometheus", Permission.METRICS_READ),
        policies=(TABLE_READ,),
    ),
    Function(
        "collect_metrics",
        every("rate(1 minute)", event="EveryMinute"),
        policies=(TABLE_WRITE, LAMBDA_PROVIDER),
        timeout=120,
        note=(
            "Measures every running component (the local router, CloudWatch for Lambda, Prometheus scrapes\n"
            "of specs that declare metrics), ingests the embedded default's own EMF, compacts hour rollups."
        ),
    ),
    Function(
        "get_autoscaling",
        http("GET", "/v1/components/{name}/autoscaling", Permission.COMPONENTS_READ),
        policies=(TABLE_READ,),
    ),
    Function(
        "set_autoscaling",
        http("PUT", "/v1/components/{name}/autoscaling", Permission.COMPONENTS_OPERATE),
        policies=(TABLE_WRITE,),
    ),
    Function(
        "disable_autoscaling",
        http("DELETE", "/v1/components/{name}/autoscaling", Permission.COMPONENTS_OPERATE),
        policies=(TABLE_WRITE,),
    ),
    Function(
        "autoscale",
        every("rate(1 minute)", event="EveryMinute"),
        policies=(TABLE_WRITE, SEND_JOBS),
        timeout=120,
        note="Evaluates every enabled autoscaling policy and acts through the lifecycle's Scale command.",
    ),
    Function(
        "health_sweep",
        every("rate(1 minute)", event="EveryMinute"),
        policies=(TABLE_WRITE, SEND_HEALTH, LAMBDA_PROVIDER),
        timeout=120,
        note="Fans the health check out: one health-queue message per batch of Running components.",
    ),
    Function(
        "health_check",
        consume("health", batch_size=1, event="HealthBatches"),
        policies=(TABLE_WRITE, LAMBDA_PROVIDER),
        timeout=120,
        note="Probes one batch of components, replaces dead or failing replicas, records health.",
    ),
    # -- systems (issue 14) --
    Function(
        "create_system", http("POST", "/v1/systems", Permission.COMPONENTS_DEPLOY), policies=(TABLE_WRITE,)
    ),
    Function("list_systems", http("GET", "/v1/systems", Permission.COMPONENTS_READ), policies=(TABLE_READ,)),
    Function(
        "get_system", http("GET", "/v1/systems/{name}", Permission.COMPONENTS_READ), policies=(TABLE_READ,)
    ),
    Function(
        "update_system",
        http("PUT", "/v1/systems/{name}", Permission.COMPONENTS_DEPLOY),
        policies=(TABLE_WRITE,),
    ),
    Function(
        "delete_system",
        http("DELETE", "/v1/systems/{name}", Permission.COMPONENTS_DEPLOY),
        policies=(TABLE_WRITE,),
    ),
    Function(
        "system_rollouts",
        http("GET", "/v1/systems/{name}/rollouts", Permission.COMPONENTS_READ),
        policies=(TABLE_READ,),
    ),
    Function(
        "deploy_system",
        http("POST", "/v1/systems/{name}/deploy", Permission.COMPONENTS_DEPLOY),
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, STATES_RUN),
    ),
    Function(
        "rollout_system",
        http("POST", "/v1/systems/{name}/update", Permission.COMPONENTS_DEPLOY),
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, STATES_RUN),
    ),
    Function(
        "promote_system",
        http("POST", "/v1/systems/{name}/promote", Permission.DEPLOYMENTS_CONTROL),
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, STATES_RUN),
    ),
    Function(
        "stop_system",
        http("POST", "/v1/systems/{name}/stop", Permission.COMPONENTS_OPERATE),
        policies=(TABLE_WRITE, SEND_EXECUTIONS, SEND_TASKS, STATES_RUN),
    ),
    # -- inbound webhooks (issue 14): deliveries are processed by run_job from the jobs queue --
    Function(
        "receive_webhook",
        http("POST", "/v1/webhooks/{source}", PUBLIC),
        policies=(TABLE_WRITE, SEND_JOBS),
        note="public: a delivery proves itself by its signature",
    ),
    Function(
        "create_webhook_source",
        http("POST", "/v1/webhook-sources", Permission.KEYS_ADMIN),
        policies=(TABLE_WRITE,),
    ),
    Function(
        "list_webhook_sources",
        http("GET", "/v1/webhook-sources", Permission.COMPONENTS_READ),
        policies=(TABLE_READ,),
    ),
    Function(
        "get_webhook_source",
        http("GET", "/v1/webhook-sources/{name}", Permission.COMPONENTS_READ),
        policies=(TABLE_READ,),
    ),
    Function(
        "update_webhook_source",
        http("PUT", "/v1/webhook-sources/{name}", Permission.KEYS_ADMIN),
        policies=(TABLE_WRITE,),
    ),
    Function(
        "delete_webhook_source",
        http("DELETE", "/v1/webhook-sources/{name}", Permission.KEYS_ADMIN),
        policies=(TABLE_WRITE,),
    ),
    Function(
        "rotate_webhook_secret",
        http("POST", "/v1/webhook-sources/{name}/rotate", Permission.KEYS_ADMIN),
        policies=(TABLE_WRITE,),
    ),
    Function(
        "list_webhook_deliveries",
        http("GET", "/v1/webhook-sources/{name}/deliveries", Permission.COMPONENTS_READ),
        policies=(TABLE_READ,),
    ),
    Function(
        "replay_webhook_delivery",
        http("POST", "/v1/webhook-sources/{name}/deliveries/{delivery_id}/replay", Permission.KEYS_ADMIN),
        policies=(TABLE_WRITE, SEND_JOBS),
    ),
    Function(
        "system_advance",
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
    Function(
        "dashboard",
        http("GET", "/", PUBLIC, "/{proxy+}"),
        policies=(TABLE_READ,),
        note="The web dashboard: public shell and assets; its fragments authenticate the bearer and read\n"
        "through the API's own read operations in process.",
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
