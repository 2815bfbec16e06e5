"""EventBridge: one of this stack's Step Functions executions ended; tell the execution listeners.

The rule (template.yaml / serverless.yml) matches ``source: aws.states``, ``detail-type: Step
Functions Execution Status Change`` for the stack's own state machines (``PILOTHOUSE_SFN_PREFIX``)
and the bad end statuses (no listener needs SUCCEEDED today; add it to both rules when one does).
The event is only a hint: the execution is described again through the orchestrator and
announced as Step Functions reports it
(:func:`pilothouse.services.execution_listeners.announce_from_orchestrator`), so the deployment
manager settles a deployment whose state machine stopped or failed uncaught, as on the embedded
engine. A malformed, oversized, foreign or forged event is ignored with a log line and never raises;
an orchestrator or store that cannot be reached raises, so Lambda's async retries try again (the
listeners are idempotent).
"""

import json
from typing import Any, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pilothouse.runtime.logs import logger, with_context
from pilothouse.services.execution_listeners import announce_from_orchestrator
from pilothouse.wiring import get_services

#: EventBridge's own limit for one event; anything larger did not come from it
MAX_EVENT_CHARS = 256 * 1024


class ExecutionStatusDetail(BaseModel):
    """The ``detail`` of a "Step Functions Execution Status Change" event (the fields used here)."""

    model_config = ConfigDict(populate_by_name=True)

    execution_arn: str = Field(alias="executionArn", min_length=1, max_length=2048)
    state_machine_arn: str = Field(alias="stateMachineArn", min_length=1, max_length=2048)
    #: the names Pilothouse gives executions (see ``executions.NAME_RE``); no other is one of ours
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,80}$")
    status: Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]


class ExecutionStatusChange(EventBridgeModel):
    source: Literal["aws.states"]
    detail_type: Literal["Step Functions Execution Status Change"] = Field(alias="detail-type")
    detail: ExecutionStatusDetail  # type: ignore[assignment]


def parse(event: Any) -> ExecutionStatusChange | None:
    """The event as a status change, or None when it is not one (or too large to be one)."""
    try:
        if len(json.dumps(event, default=str)) > MAX_EVENT_CHARS:
            return None
        return ExecutionStatusChange.model_validate(event)
    except (ValidationError, TypeError, ValueError):
        return None


def workflow_of(detail: ExecutionStatusDetail, prefix: str) -> str | None:
    """The Pilothouse workflow of the execution: its state machine must carry ``prefix`` and the
    execution's ARN must be that state machine's execution named ``detail.name``."""
    base, sep, machine = detail.state_machine_arn.partition(":stateMachine:")
    if not sep or not machine.startswith(prefix) or len(machine) == len(prefix) or ":" in machine:
        return None
    if detail.execution_arn != f"{base}:execution:{machine}:{detail.name}":
        return None
    return machine[len(prefix) :]


def _changed(event: Any) -> str:
    change = parse(event)
    if change is None:
        return "ignored: not a Step Functions execution status change"
    services = get_services()
    if services.settings.orchestrator != "stepfunctions":
        return "ignored: this control plane does not run its workflows on Step Functions"
    workflow = workflow_of(change.detail, services.settings.sfn_prefix)
    if workflow is None:
        return "ignored: not one of this control plane's state machines"
    return announce_from_orchestrator(services, workflow, change.detail.name, arn=change.detail.execution_arn)


def _handler(event: Any, context: Any) -> dict[str, str]:
    outcome = _changed(event)
    detail = event.get("detail") if isinstance(event, dict) else None
    arn = detail.get("executionArn") if isinstance(detail, dict) else None
    logger.info(
        "execution status change",
        extra={"outcome": outcome, "execution_arn": arn[:2048] if isinstance(arn, str) else None},
    )
    return {"outcome": outcome}


handler = with_context(_handler)
