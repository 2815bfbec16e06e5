"""The generated block of infra/gcp/operations.tf (a renderer of ``tools/gen_infra.py``): every
catalogue function that is an entry point of infra/gcp/main.py, its trigger, timeout and service
account, and each service account's grants, as Terraform locals. The rest of the Terraform
(infra/gcp/*.tf) is hand-written over these maps.

Least privilege per function, in the catalogue's vocabulary translated to Google Cloud: a
function's service account is the one of its *grant set* (what its policies need on Google Cloud),
so functions that need the same get the same account, and none gets more than its policies say. A
queue consumer runs the workflow tasks it invokes in its own process (the run_task worker), so it
holds their grants too. AWS-only policies (Lambda provider, Step Functions) need nothing here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from pilothouse.catalogue import Consume, Every, Function, Http, Invoke, Policy
from pilothouse.runtime.schedules import unix_cron
from pilothouse.settings import Settings

#: the catalogue's policies -> the grant codes of a Google Cloud service account
GRANTS: dict[Policy, str] = {
    Policy.TABLE_READ: "read",
    Policy.TABLE_WRITE: "write",
    Policy.SEND_JOBS: "jobs",
    Policy.SEND_EXECUTIONS: "exec",
    Policy.SEND_TASKS: "task",
    Policy.SEND_NOTIFICATIONS: "note",
    Policy.SEND_HEALTH: "hlth",
    Policy.BACKUPS: "bkp",
    Policy.SECRET_VALUES: "sec",
}
#: a send grant -> the catalogue's queue
SEND_QUEUES = {
    "jobs": "jobs",
    "exec": "executions",
    "task": "tasks",
    "note": "notifications",
    "hlth": "health",
}
ORDER = ("read", "write", "jobs", "exec", "task", "note", "hlth", "bkp", "sec")


def queue_topic(queue: str) -> str:
    """The Pub/Sub topic of the catalogue's ``queue``: the settings' default queue name."""
    return str(Settings.model_fields[f"{queue}_queue"].default)


def grants_of(fn: Function, by_name: dict[str, Function]) -> tuple[str, ...]:
    """What ``fn`` needs on Google Cloud (with the grants of the tasks it invokes in-process)."""
    codes: set[str] = set()
    todo, seen = [fn], set()
    while todo:
        current = todo.pop()
        if current.name in seen:
            continue
        seen.add(current.name)
        for policy in current.policies:
            if isinstance(policy, Invoke):
                todo.append(by_name[policy.function])
            elif policy in GRANTS:
                codes.add(GRANTS[policy])
    if "write" in codes:
        codes.discard("read")  # datastore.user includes what datastore.viewer allows
    return tuple(code for code in ORDER if code in codes)


def account_id(codes: tuple[str, ...]) -> str:
    """A service account id (6-30 characters) naming its grants: ``ph-write-jobs``."""
    name = "-".join(("ph", *codes)) if codes else "ph-none"
    if len(name) > 30:
        name = "ph-" + hashlib.sha256(name.encode()).hexdigest()[:12]
    return name


def _hcl(value: object) -> str:
    return json.dumps(value)


def gcp_operations(functions: Iterable[Function]) -> list[str]:
    functions = tuple(functions)
    by_name = {fn.name: fn for fn in functions}
    http, queue, schedule = [], [], []
    accounts: dict[str, tuple[str, ...]] = {}
    for fn in functions:
        trigger = fn.trigger
        if not isinstance(trigger, Http | Consume | Every):
            continue  # workflow tasks run in the worker's process; EventBridge rules are AWS's
        codes = grants_of(fn, by_name)
        sa = account_id(codes)
        accounts[sa] = codes
        timeout = fn.timeout or 29
        if isinstance(trigger, Http):
            http.append(
                f"    {fn.name} = {{ method = {_hcl(trigger.method)}, route = {_hcl(trigger.route)}, "
                f"timeout = {timeout}, account = {_hcl(sa)} }}"
            )
        elif isinstance(trigger, Consume):
            topic = queue_topic(trigger.queue)
            queue.append(
                f"    {fn.name} = {{ queue = {_hcl(trigger.queue)}, topic = {_hcl(topic)}, "
                f"timeout = {timeout}, account = {_hcl(sa)} }}"
            )
        else:
            schedule.append(
                f"    {fn.name} = {{ schedule = {_hcl(unix_cron(trigger.expression))}, "
                f"expression = {_hcl(trigger.expression)}, timeout = {timeout}, account = {_hcl(sa)} }}"
            )
    account_lines = []
    for sa, codes in sorted(accounts.items()):
        topics = [queue_topic(SEND_QUEUES[c]) for c in codes if c in SEND_QUEUES]
        firestore = (
            "roles/datastore.user"
            if "write" in codes
            else "roles/datastore.viewer"
            if "read" in codes
            else ""
        )
        account_lines.append(
            f"    {_hcl(sa)} = {{ firestore_role = {_hcl(firestore)}, topics = {_hcl(topics)}, "
            f"backups = {str('bkp' in codes).lower()}, secrets = {str('sec' in codes).lower()} }}"
        )
    consumed = {fn.trigger.queue for fn in functions if isinstance(fn.trigger, Consume)}
    queues = sorted(queue_topic(q) for q in consumed | set(SEND_QUEUES.values()))
    return [
        "locals {",
        "  # HTTP entry points: the API gateway routes each method and route to its function",
        "  http_functions = {",
        *http,
        "  }",
        "  # queue consumers: a push subscription on the queue's topic delivers to the function",
        "  queue_functions = {",
        *queue,
        "  }",
        "  # sweeps: a Cloud Scheduler job (UTC) publishes to the sweep's topic, pushed to the function",
        "  schedule_functions = {",
        *schedule,
        "  }",
        "  # one service account per grant set",
        "  service_accounts = {",
        *account_lines,
        "  }",
        f"  queue_topics = {_hcl(queues)}",
        "}",
    ]
