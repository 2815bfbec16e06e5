"""The shipped strategy workflows: the one plan-running workflow every deployment runs on (and
the retired per-strategy names), their definitions and their registration with the orchestrator.
"""

from __future__ import annotations

import contextlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from pilothouse.domain.deployments import CAPABILITY_FIELD
from pilothouse.errors import NotFound
from pilothouse.services.context import ServiceContext

WORKFLOWS_DIR = Path(__file__).resolve().parent.parent / "workflows"
#: the one shipped workflow every strategy runs on: a strategy is a plan (the steps
#: :func:`~pilothouse.domain.deployments.compile_plan` makes of it), which this workflow carries out
PLAN_WORKFLOW = "deployment-plan"
#: the per-strategy workflows of earlier releases (one definition under four names). Deployments
#: they started keep their name on the record (``pilothouse-canary``…) and run to their end on it:
#: the registration stays where it is (the embedded store; state machines kept in template.yaml and
#: serverless.yml), nothing here starts a new execution of them.
RETIRED_STRATEGY_WORKFLOWS = frozenset({"all-at-once", "blue-green", "canary", "rolling"})
PREFIX = "pilothouse-"
LOCAL_ARN = "arn:aws:lambda:local:000000000000:function:{}"


@cache
def builtin_definition(name: str) -> dict[str, Any]:
    """A shipped workflow with its ``${XArn}`` substitutions pointing at this project's functions."""
    text = (WORKFLOWS_DIR / f"{name}.asl.json").read_text()
    return json.loads(re.sub(r"\$\{(\w+)Arn\}", lambda m: LOCAL_ARN.format(m[1]), text))


def user_strategy_definition(name: str) -> dict[str, Any]:
    """A shipped strategy rewritten as a user may register it (a starting point for ``strategy.workflow``):
    each internal task becomes the public ``strategy_step`` with its ``action``, no capability token
    is passed, and a failed rollback simply fails (the deployment manager then rolls back itself)."""
    import copy

    from pilothouse.services.workflow_access import canonical, target_of

    out = copy.deepcopy(builtin_definition(name))

    def machine(m: dict[str, Any]) -> None:
        for key, state in m["States"].items():
            if isinstance(state.get("ItemSelector"), dict):
                state["ItemSelector"].pop(CAPABILITY_FIELD + ".$", None)
            for inner in [state.get("ItemProcessor"), *(state.get("Branches") or [])]:
                if inner:
                    machine(inner)
            if state.get("Type") != "Task":
                continue
            function = canonical(target_of(state).function or "")
            if function == "deployment_failed":  # straight on to its Fail state
                m["States"][key] = (
                    {"Type": "Pass", "Next": state["Next"]} if "Next" in state else {"Type": "Fail"}
                )
                continue
            action = {"deployment_replicas": "replicas"}.get(function, function.removeprefix("deployment_"))
            params = state["Parameters"]
            if "FunctionName" in params:
                params["FunctionName"] = "strategy_step"
                params = params["Payload"]
            else:
                state["Resource"] = "strategy_step"
            params.pop(CAPABILITY_FIELD + ".$", None)
            params["action"] = action

    machine(out)
    return out


def ensure_workflow(services: ServiceContext, name: str) -> str:
    """Register (or refresh) the built-in workflow ``name``; return its registered name."""
    from pilothouse.errors import AlreadyExists

    wf_name = PREFIX + name
    definition = builtin_definition(name)
    s = services.settings
    if s.orchestrator != "embedded":
        if s.sfn_task_transport == "lambda":
            return wf_name  # deployed with the stack (template.yaml), Lambda ARNs substituted
        from pilothouse.workflows.transforms import tasks_over_sqs

        url = services.queue.url_of(s.task_messages_queue)
        if url is None:
            raise RuntimeError(f"queue {s.task_messages_queue!r} has no URL: Step Functions tasks need SQS")
        definition = tasks_over_sqs(definition, url)
    orchestrator = services.orchestrator
    try:
        current = orchestrator.get_workflow(wf_name)
    except NotFound:
        with contextlib.suppress(AlreadyExists):
            orchestrator.create_workflow(
                wf_name, definition, description=f"built-in: {name}", actor="system", shipped=True
            )
        return wf_name
    if current["definition"] != definition:
        orchestrator.update_workflow(wf_name, definition, actor="system", shipped=True)
    return wf_name
