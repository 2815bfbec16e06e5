"""Reading template.yaml (AWS SAM) for the local cloud: functions, HTTP routes, queues, schedules.

CloudFormation short tags (``!Ref``, ``!GetAtt``, ``!Sub``, ...) load as their long form
(``{"Ref": ...}``, ``{"Fn::GetAtt": [...]}``), so the file parses without AWS tooling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from pilothouse.embedded.schedule import ScheduleError
from pilothouse.settings import Settings

if TYPE_CHECKING:
    _SafeLoader = yaml.SafeLoader
else:  # libyaml's loader where it is built in: ~10x faster on template.yaml
    _SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_SafeLoader):
    pass


def _tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)  # YAML has no fourth kind of node
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


@dataclass(frozen=True)
class HttpRoute:
    function: str
    method: str
    path: str


@dataclass(frozen=True)
class QueueSource:
    function: str
    queue: str  # local queue name
    batch_size: int
    report_failures: bool


@dataclass(frozen=True)
class ScheduleSource:
    function: str
    rule: str
    expression: str


@dataclass(frozen=True)
class QueueDef:
    logical_id: str
    name: str
    visibility_timeout: int
    dead_letter: str | None
    max_receive_count: int | None


@dataclass(frozen=True)
class FunctionDef:
    name: str  # logical id
    code_dir: Path
    handler: str
    timeout: float
    environment: dict[str, Any] = field(default_factory=dict)


@dataclass
class LocalCloud:
    """What the local gateway, worker and scheduler need from the template."""

    functions: dict[str, FunctionDef]
    routes: list[HttpRoute]
    queue_sources: list[QueueSource]
    schedules: list[ScheduleSource]
    queues: dict[str, QueueDef]


def _queue_names(template: dict[str, Any], settings: Settings) -> dict[str, str]:
    """Local names: a queue whose name a PILOTHOUSE_* variable receives gets that setting's value."""
    names: dict[str, str] = {}
    env = (((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get(
        "Variables"
    ) or {}
    for key, value in env.items():
        if isinstance(value, dict) and "Fn::GetAtt" in value and value["Fn::GetAtt"][1] == "QueueName":
            field_name = key.removeprefix("PILOTHOUSE_").lower()
            if field_name in Settings.model_fields:
                names[value["Fn::GetAtt"][0]] = str(getattr(settings, field_name))
    return names


def _arn_target(value: Any) -> str | None:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return value["Fn::GetAtt"][0]
    return None


def read_cloud(project_dir: Path, settings: Settings, template_name: str = "template.yaml") -> LocalCloud:
    template = load_template(project_dir / template_name)
    resources: dict[str, Any] = template.get("Resources") or {}
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    names = _queue_names(template, settings)
    queues: dict[str, QueueDef] = {}
    for lid, res in resources.items():
        if res.get("Type") != "AWS::SQS::Queue":
            continue
        props = res.get("Properties") or {}
        redrive = props.get("RedrivePolicy") or {}
        queues[lid] = QueueDef(
            logical_id=lid,
            name=names.get(lid, lid),
            visibility_timeout=int(props.get("VisibilityTimeout", 30)),
            dead_letter=_arn_target(redrive.get("deadLetterTargetArn")),
            max_receive_count=int(redrive["maxReceiveCount"]) if "maxReceiveCount" in redrive else None,
        )
    # A dead-letter queue without a name of its own is named after the queue it serves.
    for q in list(queues.values()):
        if q.dead_letter and q.dead_letter in queues and q.dead_letter not in names:
            d = queues[q.dead_letter]
            queues[q.dead_letter] = QueueDef(
                d.logical_id, f"{q.name}-dlq", d.visibility_timeout, d.dead_letter, d.max_receive_count
            )
    functions: dict[str, FunctionDef] = {}
    routes: list[HttpRoute] = []
    sources: list[QueueSource] = []
    schedules: list[ScheduleSource] = []
    for lid, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.get("Properties") or {}
        env = {
            **((globals_fn.get("Environment") or {}).get("Variables") or {}),
            **((props.get("Environment") or {}).get("Variables") or {}),
        }
        functions[lid] = FunctionDef(
            name=lid,
            code_dir=(project_dir / props["CodeUri"]).resolve(),
            handler=props.get("Handler", globals_fn.get("Handler", "app.handler")),
            timeout=float(props.get("Timeout", globals_fn.get("Timeout", 3))),
            environment=env,
        )
        for ev_name, ev in (props.get("Events") or {}).items():
            kind, ev_props = ev.get("Type"), ev.get("Properties") or {}
            if kind == "HttpApi":
                routes.append(
                    HttpRoute(lid, str(ev_props.get("Method", "ANY")).upper(), ev_props.get("Path", "/"))
                )
            elif kind == "SQS":
                target = _arn_target(ev_props.get("Queue"))
                sources.append(
                    QueueSource(
                        function=lid,
                        queue=queues[target].name if target in queues else str(target),
                        batch_size=int(ev_props.get("BatchSize", 10)),
                        report_failures="ReportBatchItemFailures"
                        in (ev_props.get("FunctionResponseTypes") or []),
                    )
                )
            elif kind in ("Schedule", "ScheduleV2"):
                expr = ev_props.get("Schedule") or ev_props.get("ScheduleExpression")
                if not isinstance(expr, str):
                    raise ScheduleError(
                        f"{lid}.{ev_name}: a schedule expression must be a string, got {type(expr).__name__}"
                    )
                schedules.append(ScheduleSource(lid, f"{lid}-{ev_name}", expr))
    return LocalCloud(functions, routes, sources, schedules, queues)
