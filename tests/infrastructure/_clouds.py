"""Readers of the suite's deployment descriptions shared by the infrastructure tests: template.yaml
and serverless.yml triggers, the Azure function app's indexed triggers, infra/gcp's Terraform, and
the concurrency check both clouds' entry points run."""

from __future__ import annotations

import functools
import json
import re
import threading

import pytest
import yaml

from ._tools import ROOT, SERVERLESS, TEMPLATE, load_cfn_yaml

GCP = ROOT / "infra" / "gcp"


@functools.cache
def _sam() -> dict:
    return load_cfn_yaml(TEMPLATE)


@functools.cache
def _sls() -> dict:
    with open(SERVERLESS, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=yaml.SafeLoader)  # long-form intrinsics only: plain YAML


def _sam_functions() -> dict[str, dict]:
    """folder -> properties of its AWS::Serverless::Function."""
    out = {}
    for res in _sam()["Resources"].values():
        if res["Type"] == "AWS::Serverless::Function":
            props = res["Properties"]
            out[props["CodeUri"].strip("/").removeprefix("functions/")] = props
    return out


def _sam_triggers() -> set[tuple]:
    triggers = set()
    for folder, props in _sam_functions().items():
        for ev in (props.get("Events") or {}).values():
            p = ev["Properties"]
            if ev["Type"] == "HttpApi":
                triggers.add((folder, "http", p["Method"].upper(), p["Path"]))
            elif ev["Type"] == "SQS":
                triggers.add(
                    (
                        folder,
                        "sqs",
                        p["Queue"]["Fn::GetAtt"][0],
                        p["BatchSize"],
                        tuple(p.get("FunctionResponseTypes") or ()),
                    )
                )
            elif ev["Type"] == "ScheduleV2":
                triggers.add((folder, "schedule", p["ScheduleExpression"]))
            elif ev["Type"] == "EventBridgeRule":
                triggers.add((folder, "eventbridge", json.dumps(p["Pattern"], sort_keys=True)))
            else:
                triggers.add((folder, ev["Type"]))
    return triggers


def _sls_triggers() -> set[tuple]:
    triggers = set()
    for folder, fn in _sls()["functions"].items():
        for ev in fn.get("events") or []:
            ((kind, p),) = ev.items()
            if kind == "httpApi":
                triggers.add((folder, "http", p["method"].upper(), p["path"]))
            elif kind == "sqs":
                types = (p["functionResponseType"],) if p.get("functionResponseType") else ()
                triggers.add((folder, "sqs", p["arn"]["Fn::GetAtt"][0], p["batchSize"], types))
            elif kind == "schedule":
                for expr in p["rate"] if isinstance(p, dict) else [p]:
                    triggers.add((folder, "schedule", expr))
            elif kind == "eventBridge":
                triggers.add((folder, "eventbridge", json.dumps(p["pattern"], sort_keys=True)))
            else:
                triggers.add((folder, kind))
    return triggers


def _bindings(fn) -> tuple[str, dict]:
    """(trigger type, trigger binding as the host reads it) of an indexed function."""
    data = json.loads(fn.get_function_json())
    (trigger,) = [b for b in data["bindings"] if b["type"].endswith("Trigger")]
    return trigger["type"], trigger


_INDEXED: dict[int, dict] = {}


def functions_of(app) -> dict:
    """name -> indexed function; the app is indexed once (as the worker does: a second
    ``get_functions()`` refuses the names it has already seen)."""
    if id(app) not in _INDEXED:
        _INDEXED[id(app)] = {fn.get_function_name(): fn for fn in app.get_functions()}
    return _INDEXED[id(app)]


def indexed(app) -> dict[str, tuple]:
    """function name -> its trigger, in the catalogue's terms."""
    out = {}
    for fn in functions_of(app).values():
        kind, b = _bindings(fn)
        if kind == "httpTrigger":
            (method,) = b["methods"]
            out[fn.get_function_name()] = ("http", method.upper(), "/" + b["route"], b["authLevel"])
        elif kind == "queueTrigger":
            out[fn.get_function_name()] = ("queue", b["queueName"], b["connection"])
        elif kind == "timerTrigger":
            out[fn.get_function_name()] = ("schedule", b["schedule"])
        else:  # pragma: no cover
            out[fn.get_function_name()] = (kind,)
    return out


def assert_each_gets_its_own_answer(ask, threads: int = 50, rounds: int = 4) -> None:
    """Run ``ask(name)`` from ``threads`` threads at once, ``rounds`` names each, and check each
    answer is the 404 problem of its own name."""
    import sys

    barrier = threading.Barrier(threads)
    answers: dict[str, tuple[int, dict]] = {}
    errors: list[BaseException] = []

    def call(i: int) -> None:
        barrier.wait()
        for r in range(rounds):
            name = f"component-{i}-{r}"
            try:
                answers[name] = ask(name)
            except BaseException as exc:  # noqa: BLE001 - reported below, with the others
                errors.append(exc)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # many more interleavings than the default 5 ms
    try:
        workers = [threading.Thread(target=call, args=(i,)) for i in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(timeout=300)
    finally:
        sys.setswitchinterval(old)
    assert errors == []
    assert len(answers) == threads * rounds
    for name, (status, problem) in answers.items():
        assert status == 404, problem
        assert problem["instance"] == f"/v1/components/{name}"
        assert re.search(rf"\b{name}\b", problem["detail"]), problem


def _plain(value):
    """python-hcl2's tree with HCL's quotes taken off strings and keys, and block markers dropped."""
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


@functools.cache
def terraform() -> dict[str, dict]:
    hcl2 = pytest.importorskip("hcl2")
    out = {}
    for path in sorted(GCP.glob("*.tf")):
        with open(path, encoding="utf-8") as fh:
            out[path.name] = _plain(hcl2.load(fh))
    return out


def _resources(kind: str) -> dict:
    found = {}
    for parsed in terraform().values():
        for block in parsed.get("resource", []):
            for name, body in (block.get(kind) or {}).items():
                found[name] = body
    return found


def _locals() -> dict:
    merged = {}
    for parsed in terraform().values():
        for block in parsed.get("locals", []):
            merged.update(block)
    return merged
