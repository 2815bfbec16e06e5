"""What a workflow's Task states may call: the policy, checked when a definition is registered and
again when a task runs.

* A **user** workflow (registered through ``workflows create/update``) may name only the public
  operations of :mod:`pilothouse.services.workflow_operations` — by name (``scale_component``), by a
  Lambda ARN to one, or through ``arn:aws:states:::lambda:invoke`` with a literal
  ``Parameters.FunctionName``. Everything else is refused: the control plane's internal task
  functions, unknown names, other service integrations, and names computed at run time
  (``FunctionName.$``, JSONata expressions), which cannot be checked before they run.
* Functions a deployment adds to its template may be allowed too, by name, in the setting
  ``workflow_task_functions`` (never an internal one); they are invoked as they are.
* A **shipped** workflow (``shared/pilothouse/workflows/*.asl.json``, registered by the deployment
  manager under the reserved ``pilothouse-`` names) may call the internal task functions, and only
  those. Its executions are marked *trusted* server-side when the deployment manager starts them;
  even then each internal task still checks the deployment's capability token itself.

    >>> [e["path"] for e in resource_errors({"StartAt": "T", "States": {"T": {"Type": "Task",
    ...     "Resource": "deployment_finalize", "End": True}}})]
    ['$.States.T.Resource']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: workflow names the deployment manager registers its shipped definitions under
RESERVED_PREFIX = "pilothouse-"

#: the functions only shipped strategy workflows call (each checks the deployment's capability)
INTERNAL_TASKS = frozenset(
    {
        "deployment_prepare",
        "deployment_shift",
        "deployment_replicas",
        "deployment_health",
        "deployment_analyze",
        "deployment_gate",
        "deployment_finalize",
        "deployment_rollback",
        "deployment_failed",
        "promotion_start",
        "system_advance",
    }
)

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
#: service integrations a user workflow may use besides the public operations: sending a message
#: (e.g. to a people's approval queue, answered with the task token) invokes no function of ours
MESSAGING = frozenset(
    {"arn:aws:states:::sqs:sendMessage", "arn:aws:states:::sqs:sendMessage.waitForTaskToken"}
)
ERROR_NOT_ALLOWED = "Pilothouse.TaskNotAllowed"
#: Step Functions' HTTP task (services.http_tasks): calls a URL, never a function of ours
HTTP_INVOKE = "arn:aws:states:::http:invoke"


class TaskNotAllowed(Exception):
    """A Task names something this execution may not call."""


@dataclass(frozen=True)
class Target:
    """What a Task resource names: a function, and whether the name was fixed in the definition."""

    function: str | None
    literal: bool
    #: where in the state the name is (for the validation error's path)
    field: str


def public_names() -> list[str]:
    from pilothouse.services.workflow_operations import OPERATIONS

    return sorted(OPERATIONS)


def is_reserved(workflow: str) -> bool:
    return workflow.startswith(RESERVED_PREFIX)


def _expression(value: Any) -> bool:
    return isinstance(value, str) and value.strip().startswith("{%")


def canonical(function: str) -> str:
    """One spelling per function: the folder name (``deployment_gate``) for it, its template logical id
    (``DeploymentGateFunction``) or that id without the suffix — every alias the invoker accepts.

        >>> [canonical(n) for n in ("DeploymentGateFunction", "DeploymentGate", "deployment_gate")]
        ['deployment_gate', 'deployment_gate', 'deployment_gate']
    """
    name = function.removesuffix("Function")
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def function_name(ref: str) -> str | None:
    """The function a name, ``name:qualifier`` or Lambda function ARN refers to (None: not a function)."""
    if ref.startswith("arn:"):
        parts = ref.split(":")
        if len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function":
            return canonical(parts[6])
        return None
    name = ref.split(":", 1)[0]
    return canonical(name) if name else None


def target_of(state: dict[str, Any]) -> Target:
    """What a Task state's ``Resource`` (and, for lambda:invoke, its FunctionName) names."""
    resource = state.get("Resource")
    if not isinstance(resource, str) or _expression(resource):
        return Target(None, False, "Resource")
    if resource in (LAMBDA_INVOKE, LAMBDA_INVOKE + ".waitForTaskToken"):
        for key in ("Parameters", "Arguments"):
            args = state.get(key)
            if args is None:
                continue
            if not isinstance(args, dict):
                return Target(None, False, key)
            if "FunctionName.$" in args:
                return Target(None, False, f"{key}.FunctionName.$")
            name = args.get("FunctionName")
            if not isinstance(name, str) or _expression(name):
                return Target(None, False, f"{key}.FunctionName")
            return Target(function_name(name), True, f"{key}.FunctionName")
        return Target(None, False, "Parameters.FunctionName")
    if resource.startswith("arn:aws:states:::"):
        return Target(None, True, "Resource")  # another service integration: not a public operation
    return Target(function_name(resource), True, "Resource")


def _states(machine: Any, path: str):
    """Every state of a machine and of its nested machines (Parallel branches, Map processors)."""
    if not isinstance(machine, dict) or not isinstance(machine.get("States"), dict):
        return
    for name, state in machine["States"].items():
        if not isinstance(state, dict):
            continue
        here = f"{path}.States.{name}"
        yield here, state
        for i, branch in enumerate(state.get("Branches") or []):
            yield from _states(branch, f"{here}.Branches[{i}]")
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from _states(state[key], f"{here}.{key}")


def _extra(names: Iterable[str]) -> set[str]:
    """The deployment's own allowed task functions (canonical names), never an internal one."""
    return {canonical(n) for n in names} - INTERNAL_TASKS


def _queue_error(state: dict[str, Any], own_queues: Iterable[str]) -> dict[str, str] | None:
    """A message may go to a queue of the user's, named literally; never to the control plane's own."""
    raw = state.get("Parameters")
    params: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if "QueueUrl" not in params:
        return {
            "path": "Parameters.QueueUrl.$" if "QueueUrl.$" in params else "Parameters",
            "message": "the queue must be named literally (Parameters.QueueUrl), not computed at run time",
        }
    from urllib.parse import urlsplit

    url = params["QueueUrl"]
    parts = urlsplit(url) if isinstance(url, str) else None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or parts.query
        or parts.fragment
        or "%" in url
        or any(ord(c) < 33 or ord(c) == 127 for c in url)
    ):
        return {
            "path": "Parameters.QueueUrl",
            "message": "a queue URL is https://<host>/<account>/<queue>: no query, fragment or escapes",
        }
    if parts.path.rstrip("/").rsplit("/", 1)[-1].lower() in {q.lower() for q in own_queues}:
        return {
            "path": "Parameters.QueueUrl",
            "message": "a user workflow may not send to the control plane's own queues",
        }
    return None


def resource_errors(
    definition: dict[str, Any], extra: Iterable[str] = (), own_queues: Iterable[str] = ()
) -> list[dict[str, str]]:
    """Validation errors (``path``, ``message``) for each Task a user workflow may not name;
    ``extra``: the setting ``workflow_task_functions``; ``own_queues``: the control plane's queues."""
    allowed = public_names() + sorted(_extra(extra))
    hint = (
        "a user workflow's Task may call only these public operations: "
        + ", ".join(allowed)
        + " (by name, Lambda ARN or lambda:invoke with a literal FunctionName; or send an SQS message)"
    )
    errors = []
    for path, state in _states(definition, "$"):
        if state.get("Type") != "Task":
            continue
        if isinstance(state.get("Resource"), str) and state["Resource"].startswith(HTTP_INVOKE):
            continue  # an HTTP task: its endpoint is checked by services.http_tasks.definition_errors
        if state.get("Resource") in MESSAGING:
            found = _queue_error(state, own_queues)
            if found:
                errors.append({"path": f"{path}.{found['path']}", "message": found["message"]})
            continue
        target = target_of(state)
        where = f"{path}.{target.field}"
        if not target.literal:
            message = f"the function must be named literally, not computed at run time; {hint}"
        elif target.function in INTERNAL_TASKS:
            message = f"{target.function} is internal to the control plane; {hint}"
        elif target.function not in allowed:
            message = f"{target.function or state.get('Resource')} is not a public operation; {hint}"
        else:
            continue
        errors.append({"path": where, "message": message})
    return errors


def check_call(function: str, *, trusted: bool, extra: Iterable[str] = ()) -> tuple[str, str]:
    """At run time: ``("internal" | "public" | "project", canonical name)`` for a function this
    execution may call; else :class:`TaskNotAllowed` (defense in depth behind the check at
    registration)."""
    route = _route(canonical(function), trusted=trusted, extra=_extra(extra))
    return route, canonical(function)


def _route(function: str, *, trusted: bool, extra: set[str]) -> str:
    if trusted:
        if function in INTERNAL_TASKS:
            return "internal"
        raise TaskNotAllowed(f"{function} is not one of the control plane's internal task functions")
    if function in INTERNAL_TASKS:
        raise TaskNotAllowed(
            f"{function} is internal to the control plane; a user workflow may call only "
            f"the public operations ({', '.join(public_names())})"
        )
    if function in extra:
        return "project"
    if function not in public_names():
        raise TaskNotAllowed(
            f"{function} is not a public operation; a user workflow may call only: "
            f"{', '.join(public_names())}"
        )
    return "public"


# -- on Step Functions --------------------------------------------------------------------------


SQS_CALLBACK = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"


def function_tasks(machine: dict[str, Any]) -> list[dict[str, Any]]:
    """The Task states (nested ones included) that name a function literally."""
    found = []
    for _, state in _states(machine, "$"):
        if state.get("Type") == "Task" and state.get("Resource") not in MESSAGING:
            target = target_of(state)
            if target.literal and target.function:
                found.append(state)
    return found


def user_tasks_over_sqs(definition: dict[str, Any], queue_url: str) -> dict[str, Any]:
    """A user definition for Step Functions: each Task naming a function (a public operation or an
    allowed function of the deployment) becomes a message on the task-messages queue, answered with
    its token by ``run_task_message``, which runs it as the execution's starter; the message names
    the execution (``$$.Execution.Id``), never the principal."""
    import copy

    from pilothouse.errors import ValidationFailed

    out = copy.deepcopy(definition)
    jsonata = definition.get("QueryLanguage") == "JSONata"
    for state in function_tasks(out):
        language = state.get("QueryLanguage", "JSONata" if jsonata else "JSONPath")
        if language == "JSONata" or "Arguments" in state:
            raise ValidationFailed.field(
                "definition",
                "on Step Functions a Task that calls a Pilothouse function must use JSONPath (Parameters); "
                "JSONata (Arguments) is not supported there yet",
            )
        target = target_of(state)
        invoke = state["Resource"].startswith(LAMBDA_INVOKE)
        raw = state.get("Parameters")
        params: dict[str, Any] | None = raw if isinstance(raw, dict) else None
        body: dict[str, Any] = {
            "function": target.function,
            "token.$": "$$.Task.Token",
            "callback": state["Resource"].endswith(".waitForTaskToken"),
            "envelope": invoke,
            "execution.$": "$$.Execution.Id",
            "state.$": "$$.State.Name",
        }
        if invoke and params is not None and "Payload.$" in params:
            body["payload.$"] = params["Payload.$"]
        elif invoke and params is not None and "Payload" in params:
            body["payload"] = params["Payload"]
        elif not invoke and params is not None:
            body["payload"] = params
        else:  # no parameters: the state's input, as Lambda would get it
            body["payload.$"] = "$"
        state["Resource"] = SQS_CALLBACK
        state["Parameters"] = {"QueueUrl": queue_url, "MessageBody": body}
    return out
