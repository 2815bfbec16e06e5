"""Render the function entries of the packaging files from the operation catalogue (`make infra`).

    python tools/gen_infra.py          # rewrite the generated blocks in place
    python tools/gen_infra.py --check  # exit 1 and name the stale files, change nothing

Each target is a renderer that turns :data:`pilothouse.catalogue.FUNCTIONS` into the text of the
blocks it owns; everything between a block's BEGIN and END marker lines is generated, everything
else in the file (tables, queues, alarms, keys, the API, state machines) stays hand-written.
Adding a target (infra/azure, infra/gcp) means adding a renderer and its file to :data:`TARGETS`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))

from pilothouse.catalogue import (  # noqa: E402 - the package lives in shared/
    FUNCTIONS,
    Consume,
    Every,
    Function,
    Http,
    Invoke,
    OnEvent,
    Policy,
    Task,
)

SOURCE = "shared/pilothouse/catalogue.py"
#: the line length of ``ruff format`` (pyproject.toml), for the generated Python
LINE_LENGTH = 110

#: queue key of the catalogue -> the queue's logical id in the templates
QUEUES = {
    "jobs": "JobsQueue",
    "executions": "ExecutionsQueue",
    "tasks": "TasksQueue",
    "task_messages": "TaskMessagesQueue",
    "notifications": "NotificationsQueue",
    "health": "HealthQueue",
}
#: the ARNs of this stack's own state machines start so
STATE_MACHINE_PREFIX = (
    "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${AWS::StackName}-"
)
#: what every schedule's (and event rule's) failed runs dead-letter to
SWEEPS_DLQ = "SweepsDeadLetterQueue"

CHECKOV_HTTP = (
    (
        "CKV_AWS_116",
        "Invoked synchronously by the HTTP API: a failure is the caller's 5xx, "
        "there is no async event to dead-letter",
    ),
    (
        "CKV_AWS_115",
        "HTTP route: a reservation per route would split the account's pool ~45 ways and throttle bursts; "
        "API Gateway throttles traffic",
    ),
)
CHECKOV_TASK = (
    (
        "CKV_AWS_116",
        "Workflow task invoked synchronously (Step Functions Task, run_task): "
        "the caller's Retry/Catch handles its failure",
    ),
    (
        "CKV_AWS_115",
        "Called only by run_task (capped by QueueConsumerConcurrency) and Step Functions; "
        "a cap here would fail a running step with a throttle",
    ),
)


def logical_id(name: str) -> str:
    """``deploy_component`` -> ``DeployComponentFunction`` (the template's resource name)."""
    return "".join(part.capitalize() for part in name.split("_")) + "Function"


def dead_letter_queue(trigger: Consume | Every | OnEvent) -> str:
    if isinstance(trigger, Consume):
        return QUEUES[trigger.queue].removesuffix("Queue") + "DeadLetterQueue"
    return SWEEPS_DLQ


# -- AWS SAM (template.yaml) ----------------------------------------------------------------------


def _sam_policy(policy: Policy | Invoke) -> list[str]:
    if isinstance(policy, Invoke):
        return [f"- LambdaInvokePolicy: {{FunctionName: !Ref {logical_id(policy.function)}}}"]
    table = {
        Policy.TABLE_READ: "- DynamoDBReadPolicy: {TableName: !Ref Table}",
        Policy.TABLE_WRITE: "- DynamoDBCrudPolicy: {TableName: !Ref Table}",
        Policy.SEND_JOBS: "- SQSSendMessagePolicy: {QueueName: !GetAtt JobsQueue.QueueName}",
        Policy.SEND_EXECUTIONS: "- SQSSendMessagePolicy: {QueueName: !GetAtt ExecutionsQueue.QueueName}",
        Policy.SEND_TASKS: "- SQSSendMessagePolicy: {QueueName: !GetAtt TasksQueue.QueueName}",
        Policy.SEND_NOTIFICATIONS: (
            "- SQSSendMessagePolicy: {QueueName: !GetAtt NotificationsQueue.QueueName}"
        ),
        Policy.SEND_HEALTH: "- SQSSendMessagePolicy: {QueueName: !GetAtt HealthQueue.QueueName}",
        Policy.LAMBDA_PROVIDER: "- !Ref LambdaProviderPolicy",
        Policy.STATES_RUN: "- !If [UseStepFunctions, !Ref StatesRunPolicy, !Ref AWS::NoValue]",
        Policy.STATES_READ: "- !If [UseStepFunctions, !Ref StatesReadPolicy, !Ref AWS::NoValue]",
        Policy.STATES_WRITE: "- !If [UseStepFunctions, !Ref StatesWritePolicy, !Ref AWS::NoValue]",
    }
    if policy is Policy.BACKUPS:
        return [
            "- S3CrudPolicy: {BucketName: !Ref BackupBucket}",
            "- Statement:",
            "    - Effect: Allow  # the bucket's SSE-KMS and the backups' envelope (data keys)",
            "      Action: [kms:Encrypt, kms:Decrypt, kms:GenerateDataKey]",
            "      Resource: !GetAtt Key.Arn",
            "    - Effect: Allow  # PILOTHOUSE_BACKUP_DYNAMODB_EXPORT: the table's point-in-time export",
            "      Action: [dynamodb:ExportTableToPointInTime, dynamodb:DescribeExport,"
            " dynamodb:DescribeContinuousBackups]",
            '      Resource: [!GetAtt Table.Arn, !Sub "${Table.Arn}/export/*"]',
        ]
    if policy is Policy.TASK_TOKENS:
        return [
            "- Statement:",
            "    - Effect: Allow  # task-token calls take no resource-level permissions",
            "      Action: [states:SendTaskSuccess, states:SendTaskFailure, states:SendTaskHeartbeat]",
            '      Resource: "*"',
        ]
    if policy is Policy.SECRET_VALUES:
        return [
            "- Statement:",
            "    - Effect: Allow  # secret values under the prefix (secret_backend secretsmanager/ssm)",
            "      Action: [secretsmanager:CreateSecret, secretsmanager:PutSecretValue,"
            " secretsmanager:GetSecretValue, secretsmanager:DeleteSecret]",
            '      Resource: !Sub "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}'
            ':secret:pilothouse/*"',
            "    - Effect: Allow",
            "      Action: [ssm:PutParameter, ssm:GetParameter, ssm:DeleteParameter]",
            '      Resource: !Sub "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}'
            ':parameter/pilothouse/secrets/*"',
        ]
    return [table[policy]]


def _sam_function(fn: Function) -> list[str]:
    t = fn.trigger
    out = [f"  # {line}" for line in fn.note.splitlines()]
    out += [f"  {logical_id(fn.name)}:", "    Type: AWS::Serverless::Function"]
    skips = CHECKOV_HTTP if isinstance(t, Http) else CHECKOV_TASK if isinstance(t, Task) else ()
    if skips:
        out += ["    Metadata:", "      checkov:", "        skip:"]
        for rule, reason in skips:
            out += [f"          - id: {rule}", f'            comment: "{reason}"']
    out += [
        "    Properties:",
        f'      FunctionName: !Sub "${{AWS::StackName}}-{fn.name}"',
        f"      CodeUri: functions/{fn.name}/",
        "      Handler: app.handler",
    ]
    if isinstance(t, Consume):
        queue = QUEUES[t.queue]
        out += [
            "      ReservedConcurrentExecutions: !Ref QueueConsumerConcurrency",
            "      DeadLetterQueue:  # async invocations only; "
            f"the trigger dead-letters via {queue}'s RedrivePolicy",
            "        Type: SQS",
            f"        TargetArn: !GetAtt {dead_letter_queue(t)}.Arn",
        ]
    elif isinstance(t, Every):
        out += [
            "      ReservedConcurrentExecutions: 1  # one sweep at a time",
            "      DeadLetterQueue:",
            "        Type: SQS",
            f"        TargetArn: !GetAtt {dead_letter_queue(t)}.Arn",
            "      EventInvokeConfig:  # the next minute's sweep redoes the work: no retry, no stale backlog",
            "        MaximumRetryAttempts: 0",
            "        MaximumEventAgeInSeconds: 120",
        ]
    elif isinstance(t, OnEvent):
        out += [
            "      ReservedConcurrentExecutions: 2  # ends are rare; throttled async events wait and retry",
            "      DeadLetterQueue:  # async events that still fail after the retries below",
            "        Type: SQS",
            f"        TargetArn: !GetAtt {dead_letter_queue(t)}.Arn",
            "      EventInvokeConfig:  # the listeners are idempotent: retrying a failed event is harmless",
            "        MaximumRetryAttempts: 2",
            "        MaximumEventAgeInSeconds: 3600",
        ]
    if fn.timeout is not None:
        out.append(f"      Timeout: {fn.timeout}")
    if fn.policies:
        out.append("      Policies:")
        out += [f"        {line}" for p in fn.policies for line in _sam_policy(p)]
    else:
        out.append("      Policies: []  # no data access: answers from code alone")
    if isinstance(t, Http):
        out.append("      Events:")
        for i, route in enumerate(t.routes):
            out += [
                f"        Http{i + 1 if i else ''}:",
                "          Type: HttpApi",
                "          Properties:",
                "            ApiId: !Ref HttpApi",
                f"            Method: {t.method}",
                f"            Path: {route}",
            ]
    elif isinstance(t, Consume):
        out += [
            "      Events:",
            f"        {t.event}:",
            "          Type: SQS",
            "          Properties:",
            f"            Queue: !GetAtt {QUEUES[t.queue]}.Arn",
            f"            BatchSize: {t.batch_size}",
            "            FunctionResponseTypes: [ReportBatchItemFailures]",
            "            ScalingConfig: {MaximumConcurrency: !Ref QueueConsumerConcurrency}",
        ]
    elif isinstance(t, Every):
        out += [
            "      Events:",
            f"        {t.event}:",
            "          Type: ScheduleV2",
            "          Properties:",
            f"            ScheduleExpression: {t.expression}",
            f'            Name: !Sub "${{AWS::StackName}}-{fn.name}"',
            "            State: ENABLED",
            "            DeadLetterConfig:",
            f"              Arn: !GetAtt {dead_letter_queue(t)}.Arn",
        ]
    elif isinstance(t, OnEvent):
        out += [
            "      Events:",
            f"        {t.event}:",
            "          Type: EventBridgeRule",
            "          Properties:",
            "            Pattern:",
            "              source: [aws.states]",
            f"              detail-type: [{t.detail_type}]",
            "              detail:",
            f"                status: [{', '.join(t.statuses)}]",
            "                stateMachineArn:",
            f'                  - prefix: !Sub "{STATE_MACHINE_PREFIX}"',
            "            RetryPolicy:",
            "              MaximumRetryAttempts: 10",
            "              MaximumEventAgeInSeconds: 3600",
        ]
    return out


def sam_functions(functions: Iterable[Function]) -> list[str]:
    out: list[str] = []
    for fn in functions:
        out += [*_sam_function(fn), ""]
    return out[:-1]


def sam_routes(functions: Iterable[Function]) -> list[str]:
    """The HttpApi body's paths: a route's security is the JWT authorizer when one is set, a
    public route's is none."""
    by_route: dict[str, list[Http]] = {}
    for fn in functions:
        if isinstance(fn.trigger, Http):
            for route in fn.trigger.routes:
                by_route.setdefault(route, []).append(fn.trigger)
    out = []
    for route, triggers in by_route.items():
        out.append(f"          {route}:")
        for t in triggers:
            security = "!If [HasJwtAuthorizer, [{JwtAuthorizer: []}], []]" if t.permission else "[]"
            out += [f"            {t.method.lower()}:", f"              security: {security}"]
    return out


# -- Serverless Framework v3 (serverless.yml) ----------------------------------------------------


def _sls_function(fn: Function) -> list[str]:
    t = fn.trigger
    out = [f"  # {line}" for line in fn.note.splitlines()]
    out += [f"  {fn.name}:", f"    handler: functions/{fn.name}/app.handler"]
    if fn.timeout is not None:
        out.append(f"    timeout: {fn.timeout}")
    if isinstance(t, Consume):
        out += [
            "    reservedConcurrency: ${param:queueConsumerConcurrency}",
            "    onError:  # async invocations only; the trigger dead-letters via the queue's RedrivePolicy",
        ]
    elif isinstance(t, Every):
        out += [
            "    reservedConcurrency: 1  # one sweep at a time",
            "    maximumRetryAttempts: 0  # the next minute's sweep redoes the work",
            "    maximumEventAge: 120",
            "    onError:",
        ]
    elif isinstance(t, OnEvent):
        out += [
            "    reservedConcurrency: 2  # ends are rare; throttled async events wait and retry",
            "    maximumRetryAttempts: 2  # the listeners are idempotent: a retried event is harmless",
            "    maximumEventAge: 3600",
            "    onError:",
        ]
    if isinstance(t, Consume | Every | OnEvent):
        out += ["      Fn::GetAtt:", f"      - {dead_letter_queue(t)}", "      - Arn"]
    if isinstance(t, Http):
        out.append("    events:")
        for route in t.routes:
            out += ["    - httpApi:", f"        method: {t.method}", f"        path: {route}"]
    elif isinstance(t, Consume):
        out += [
            "    events:",
            "    - sqs:",
            "        arn:",
            "          Fn::GetAtt:",
            f"          - {QUEUES[t.queue]}",
            "          - Arn",
            f"        batchSize: {t.batch_size}",
            "        functionResponseType: ReportBatchItemFailures",
            "        maximumConcurrency: ${param:queueConsumerConcurrency}",
        ]
    elif isinstance(t, Every):
        out += [
            "    events:",
            "    - schedule:",
            "        method: scheduler",
            "        rate:",
            f"        - {t.expression}",
        ]
    elif isinstance(t, OnEvent):
        out += [
            "    events:",
            "    - eventBridge:",
            "        pattern:",
            "          source:",
            "          - aws.states",
            "          detail-type:",
            f"          - {t.detail_type}",
            "          detail:",
            "            status:",
            *[f"            - {status}" for status in t.statuses],
            "            stateMachineArn:",
            "            - prefix:",
            f"                Fn::Sub: {STATE_MACHINE_PREFIX}",
            "        retryPolicy:",
            "          maximumRetryAttempts: 10",
            "          maximumEventAge: 3600",
        ]
    return out


def serverless_functions(functions: Iterable[Function]) -> list[str]:
    return [line for fn in functions for line in _sls_function(fn)]


# -- blocks and files ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """Lines between ``<indent># BEGIN GENERATED <name>`` and ``<indent># END GENERATED <name>``."""

    name: str
    render: Callable[[Iterable[Function]], list[str]]


TARGETS: dict[str, tuple[Block, ...]] = {
    "template.yaml": (Block("routes", sam_routes), Block("functions", sam_functions)),
    "serverless.yml": (Block("functions", serverless_functions),),
}


def _gcp_operations(functions: Iterable[Function]) -> list[str]:
    tools = str(Path(__file__).resolve().parent)
    if tools not in sys.path:
        sys.path.insert(0, tools)
    from gcp_terraform import gcp_operations  # tools/, beside this file

    return gcp_operations(functions)


TARGETS["infra/gcp/operations.tf"] = (Block("operations", _gcp_operations),)


def catalogue_routes(functions: Iterable[Function]) -> list[str]:
    """The entries of ``pilothouse.runtime.catalogue_routes.ROUTES``: each function's method,
    resolver route and permission value (None: public), or None when no HTTP route triggers it;
    laid out as ``ruff format`` lays them out (one line each, or a value per line when long)."""
    lines = []
    for fn in functions:
        t = fn.trigger
        if not isinstance(t, Http):
            lines.append(f"    {json.dumps(fn.name)}: None,")
            continue
        values = [json.dumps(t.method), json.dumps(t.resolver_route)]
        values.append(json.dumps(t.permission.value) if t.permission is not None else "None")
        line = f"    {json.dumps(fn.name)}: ({', '.join(values)}),"
        if len(line) <= LINE_LENGTH:
            lines.append(line)
        else:
            lines += [f"    {json.dumps(fn.name)}: (", *(f"        {v}," for v in values), "    ),"]
    return lines


TARGETS["shared/pilothouse/runtime/catalogue_routes.py"] = (Block("routes", catalogue_routes),)


class MarkerError(ValueError):
    pass


def replace_block(text: str, block: Block, lines: list[str]) -> str:
    pattern = re.compile(
        rf"^[ ]*# BEGIN GENERATED {block.name}\b[^\n]*\n(?P<body>.*?)"
        rf"^[ ]*# END GENERATED {block.name}\b",
        re.MULTILINE | re.DOTALL,
    )
    matches = list(pattern.finditer(text))
    if len(matches) != 1:
        raise MarkerError(f"expected one '# BEGIN/END GENERATED {block.name}' pair, found {len(matches)}")
    m = matches[0]
    body = "".join(line + "\n" for line in lines)
    return text[: m.start("body")] + body + text[m.end("body") :]


def render(path: str, text: str, functions: Iterable[Function] = FUNCTIONS) -> str:
    functions = tuple(functions)
    for block in TARGETS[path]:
        text = replace_block(text, block, block.render(functions))
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the generated blocks of the packaging files.")
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale; change nothing")
    check = parser.parse_args(argv).check
    stale = []
    for path in TARGETS:
        current = (ROOT / path).read_text(encoding="utf-8")
        wanted = render(path, current)
        if wanted != current:
            stale.append(path)
            if not check:
                (ROOT / path).write_text(wanted, encoding="utf-8")
    if check and stale:
        print(f"stale: {', '.join(stale)} (run `make infra` after editing {SOURCE})", file=sys.stderr)
        return 1
    for path in stale:
        print(f"rewrote the generated blocks of {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
