"""The Step Functions operations of the ``/sfn`` endpoint, each on the embedded engine's services.

Each operation checks its parameters as Step Functions does (``ValidationException``,
``InvalidArn``, ``InvalidName``...), checks the caller's permission (the one the HTTP API's
operation of the same meaning declares), then does the work through the HTTP API's endpoint
functions where there is one (so the reserved-workflow rules hold here too) and shapes the answer
with Step Functions' member names. ARNs read ``arn:aws:states:<region>:<account>:stateMachine:<name>``
(``:<version>`` for a published version, ``:<alias>`` for an alias) and
``...:execution:<state machine>:<name>``, with the region and account of the settings
``sfn_region`` and ``sfn_account``.

A workflow's own versions are what Step Functions calls revisions (``revisionId``);
``PublishStateMachineVersion`` numbers them (:mod:`pilothouse.services.state_machines`). Aliases,
version deletion and tags are in :mod:`pilothouse.api.sfn_aliases`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pilothouse.api import sfn_aliases as aliases
from pilothouse.api import workflows as wfapi
from pilothouse.api.sfn_executions import (
    describe_execution,
    get_execution_history,
    list_executions,
    redrive_execution,
    send_task_failure,
    send_task_heartbeat,
    send_task_success,
    start_execution,
    start_sync_execution,
    stop_execution,
)
from pilothouse.api.sfn_machines import (
    create_state_machine,
    delete_state_machine,
    describe_state_machine,
    list_state_machines,
    publish_state_machine_version,
    test_state,
    update_state_machine,
    validate_state_machine_definition,
)
from pilothouse.api.sfn_protocol import Request, SfnError
from pilothouse.domain.security import Permission


@dataclass(frozen=True)
class SfnOperation:
    name: str
    permission: Permission
    mutating: bool
    #: the HTTP API operation of the same meaning: the audit record's ``operation``
    audit_name: str
    run: Callable[[Request], dict[str, Any]]


def run_operation(op: SfnOperation, req: Request) -> dict[str, Any]:
    principal = req.principal
    if not principal.can(op.permission):
        raise SfnError(
            "AccessDeniedException",
            f"{principal.id} ({principal.role.label}) is not authorized to perform states:{op.name}: "
            f"it needs the {op.permission.value} permission",
        )
    return op.run(req)


def _op(
    name: str, endpoint: Any, run: Callable[[Request], dict[str, Any]], audit: str | None = None
) -> SfnOperation:
    return SfnOperation(name, endpoint.permission, endpoint.mutating, audit or endpoint.name, run)


OPERATIONS: dict[str, SfnOperation] = {
    op.name: op
    for op in (
        _op("CreateStateMachine", wfapi.create_workflow, create_state_machine),
        _op("UpdateStateMachine", wfapi.update_workflow, update_state_machine),
        _op("DescribeStateMachine", wfapi.get_workflow, describe_state_machine),
        _op("ListStateMachines", wfapi.list_workflows, list_state_machines),
        _op("DeleteStateMachine", wfapi.delete_workflow, delete_state_machine),
        _op(
            "PublishStateMachineVersion",
            wfapi.update_workflow,
            publish_state_machine_version,
            "publish_workflow_version",
        ),
        _op("StartExecution", wfapi.start_execution, start_execution),
        _op("StartSyncExecution", wfapi.start_execution, start_sync_execution),
        _op("DescribeExecution", wfapi.describe_execution, describe_execution),
        _op("ListExecutions", wfapi.list_executions, list_executions),
        _op("GetExecutionHistory", wfapi.execution_history, get_execution_history),
        _op("StopExecution", wfapi.stop_execution, stop_execution),
        _op("RedriveExecution", wfapi.redrive_execution, redrive_execution),
        _op("SendTaskSuccess", wfapi.send_task_success, send_task_success),
        _op("SendTaskFailure", wfapi.send_task_failure, send_task_failure),
        _op("SendTaskHeartbeat", wfapi.send_task_heartbeat, send_task_heartbeat),
        _op("ValidateStateMachineDefinition", wfapi.get_workflow, validate_state_machine_definition),
        SfnOperation("TestState", Permission.EXECUTIONS_RUN, False, "test_state", test_state),
        _op(
            "DeleteStateMachineVersion",
            wfapi.update_workflow,
            aliases.delete_state_machine_version,
            "delete_workflow_version",
        ),
        _op(
            "CreateStateMachineAlias",
            wfapi.update_workflow,
            aliases.create_state_machine_alias,
            "create_workflow_alias",
        ),
        _op("DescribeStateMachineAlias", wfapi.get_workflow, aliases.describe_state_machine_alias),
        _op(
            "UpdateStateMachineAlias",
            wfapi.update_workflow,
            aliases.update_state_machine_alias,
            "update_workflow_alias",
        ),
        _op(
            "DeleteStateMachineAlias",
            wfapi.update_workflow,
            aliases.delete_state_machine_alias,
            "delete_workflow_alias",
        ),
        _op("ListStateMachineAliases", wfapi.get_workflow, aliases.list_state_machine_aliases),
        _op("TagResource", wfapi.update_workflow, aliases.tag_resource, "tag_workflow"),
        _op("UntagResource", wfapi.update_workflow, aliases.untag_resource, "untag_workflow"),
        _op("ListTagsForResource", wfapi.get_workflow, aliases.list_tags_for_resource),
    )
}
