"""Promotion across environments (development → staging → production) as a shipped workflow.

A promotion deploys the version a component runs in one environment to its twin in the next one,
through the target's own strategy and gates. Its record keeps who started it and the digests of its
capability token; the workflow's one internal task (:func:`promotion_task`) acts only with that token.
"""

from __future__ import annotations

import uuid
from typing import Any

from pilothouse.domain.deployments import CAPABILITY_FIELD, new_capability
from pilothouse.domain.lifecycle import Command
from pilothouse.errors import Conflict, ValidationFailed
from pilothouse.repositories.deployments import PromotionRepository
from pilothouse.services.context import ServiceContext
from pilothouse.services.strategy_workflows import ensure_workflow


def repo(services: ServiceContext) -> PromotionRepository:
    return PromotionRepository(services.store)


def new_promotion_id() -> str:
    return "promo-" + uuid.uuid4().hex[:12]


def start_promotion(
    services: ServiceContext, *, source: str, target: str, strategy: Any, actor: str
) -> dict[str, Any]:
    """Deploy the version running in ``source`` to ``target`` (the next environment) with its gates."""
    from pilothouse.services import components

    order = ["development", "staging", "production"]
    src, dst = components.get(services, source).data, components.get(services, target).data
    if src["state"] != "Running":
        raise Conflict(f"{source} is {src['state']}; only a Running component's version can be promoted")
    s_env, t_env = src["spec"]["environment"], dst["spec"]["environment"]
    if order.index(t_env) != order.index(s_env) + 1:
        raise ValidationFailed.field(
            "target",
            f"promotion goes {s_env} → {order[min(order.index(s_env) + 1, 2)]}; {target} is in {t_env}",
        )
    components.check_version(dst["spec"], src["version"])  # a version the target cannot run: 422 now
    wf = ensure_workflow(services, "promote-environment")
    promotion_id = new_promotion_id()
    capability, digest = new_capability()
    repo(services).put(
        {"id": promotion_id, "source": source, "target": target, "initiator": actor, "capabilities": [digest]}
    )
    return services.orchestrator.start(
        wf,
        name=promotion_id,
        input={
            "source": source,
            "target": target,
            "strategy": strategy,
            "initiator": actor,
            "promotion_id": promotion_id,
            CAPABILITY_FIELD: capability,
        },
        actor=actor,
        trusted=True,
    )


def _authorize_promotion(services: ServiceContext, payload: Any) -> dict[str, Any]:
    """The promotion record, if ``payload`` carries its capability (what its shipped workflow passes)."""
    from pilothouse.domain.deployments import capability_matches
    from pilothouse.services.deployment_tasks import CapabilityRefused

    pid = payload.get("promotion_id") if isinstance(payload, dict) else None
    promotion = repo(services).get(pid) if isinstance(pid, str) and pid else None
    digests = (promotion.get("capabilities") or []) if promotion is not None else []
    if not capability_matches(payload.get(CAPABILITY_FIELD) if isinstance(payload, dict) else None, digests):
        raise CapabilityRefused(
            f"refused: only the promotion workflow that owns promotion {pid!r} may "
            f"start its deployment, and the call does not carry its capability token"
        )
    assert promotion is not None  # a capability matched its digests
    return promotion


def promotion_task(services: ServiceContext, payload: dict[str, Any]) -> None:
    """The promotion workflow's task: start the target's deployment, to report back via the token."""
    from pilothouse.services import components

    promotion = _authorize_promotion(services, payload)
    # what was recorded when the promotion started wins over the payload
    payload = {
        **payload,
        "source": promotion["source"],
        "target": promotion["target"],
        "initiator": promotion["initiator"],
    }
    src = components.get(services, payload["source"]).data
    dst = components.get(services, payload["target"]).data
    params = {"version": src["version"], "strategy": payload.get("strategy")}
    cmd = Command.DEPLOY if dst["state"] == "Registered" else Command.UPDATE
    try:
        components.command(
            services,
            payload["target"],
            cmd,
            params,
            actor=payload.get("initiator") or "system",
            notify_token=payload["token"],
        )
    except Exception as exc:  # tell the promotion why it could not start
        services.orchestrator.send_task_failure(payload["token"], type(exc).__name__, str(exc))
