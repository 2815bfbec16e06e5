"""Alert endpoints: rules (create, list, get, delete) and alerts (list, get, acknowledge, silence)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field

from pilothouse.api import lazy
from pilothouse.domain.alerts import RuleRequest
from pilothouse.runtime.context import current
from pilothouse.runtime.http import json_response
from pilothouse.runtime.operations import operation
from pilothouse.services import alerts as svc

TAG = "alerts"


def _resource(params: dict[str, str]) -> str | None:
    return f"alert-rule:{params.get('name')}"


class AckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str = Field(default="", max_length=500)


class SilenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    minutes: float = Field(gt=0, le=43200, description="how long (at most 30 days)")
    reason: str = Field(min_length=1, max_length=500)


@operation(
    summary="Create an alert rule (metric, health, event or backup_age)",
    tag=TAG,
    status=201,
    errors=(409,),
    response="AlertRule",
)
def create_alert_rule(rule: Annotated[RuleRequest, lazy.Body(embed=False)]) -> Response[dict[str, Any]]:
    ctx = current()
    ctx.resource = f"alert-rule:{rule.name}"
    body = svc.create_rule(ctx.services, rule.model_dump(mode="json"), actor=ctx.actor)
    return json_response(body, 201, {"Location": f"/v1/alerts/rules/{rule.name}"})


@operation(summary="List alert rules", tag=TAG, response="AlertRuleList")
def list_alert_rules() -> dict[str, Any]:
    return {"items": svc.list_rules(current().services)}


@operation(summary="Get an alert rule", tag=TAG, resource=_resource, response="AlertRule")
def get_alert_rule(name: str) -> dict[str, Any]:
    return svc.get_rule(current().services, name)


@operation(
    summary="Delete an alert rule and its alert (the history stays)", tag=TAG, status=204, resource=_resource
)
def delete_alert_rule(name: str) -> Response[None]:
    svc.delete_rule(current().services, name)
    return Response(status_code=204, body=None)


@operation(summary="List alerts", tag=TAG, response="AlertList")
def list_alerts(
    state: Annotated[
        Literal["OK", "PENDING", "FIRING", "RESOLVED"] | None,
        lazy.Query(description="only alerts in this state"),
    ] = None,
) -> dict[str, Any]:
    return {"items": svc.list_alerts(current().services, state=state)}


@operation(summary="Get an alert with its history", tag=TAG, resource=_resource, response="Alert")
def get_alert(name: str, history: Annotated[int, lazy.Query(ge=0, le=500)] = 50) -> dict[str, Any]:
    return svc.get_alert(current().services, name, history=history)


@operation(
    summary="Acknowledge a pending or firing alert",
    tag=TAG,
    resource=_resource,
    errors=(409,),
    response="Alert",
)
def ack_alert(name: str, request: AckRequest) -> dict[str, Any]:
    ctx = current()
    return svc.acknowledge(ctx.services, name, actor=ctx.actor, comment=request.comment)


@operation(
    summary="Silence an alert's notifications for a while", tag=TAG, resource=_resource, response="Alert"
)
def silence_alert(name: str, request: SilenceRequest) -> dict[str, Any]:
    ctx = current()
    return svc.silence(ctx.services, name, minutes=request.minutes, reason=request.reason, actor=ctx.actor)


OPERATIONS = [
    create_alert_rule,
    list_alert_rules,
    get_alert_rule,
    delete_alert_rule,
    list_alerts,
    get_alert,
    ack_alert,
    silence_alert,
]
