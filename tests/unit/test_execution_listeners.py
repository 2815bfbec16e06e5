"""The execution listeners: the registry, who is registered, and the EventBridge function's refusals."""

from __future__ import annotations

import ast
import json

import pytest

from pilothouse.services.execution_listeners import ExecutionEnded, ExecutionListeners, default_listeners
from tests.support.controlplane import ROOT

ENDED = ExecutionEnded(
    workflow="w", name="e1", arn="arn:aws:states:local:000000000000:execution:w:e1", status="FAILED"
)


def test_listeners_run_in_order_and_a_failing_one_stops_no_other(caplog):
    """Given three listeners of which the second raises, when an end is announced, then the first and
    third still hear it, in registration order, the failure is logged with the execution named, and
    the announcer gets the failed listener's name instead of an exception."""
    heard: list[str] = []
    registry = ExecutionListeners()
    registry.register("first", lambda services, ended: heard.append(f"first:{ended.name}"))

    def broken(services, ended):
        raise RuntimeError("listener bug")

    registry.register("broken", broken)
    registry.register("third", lambda services, ended: heard.append(f"third:{ended.status}"))

    assert registry.announce(None, ENDED) == ["broken"]
    assert heard == ["first:e1", "third:FAILED"]
    assert "listener broken failed on w/e1 (FAILED)" in caplog.text


def test_registering_a_name_again_replaces_it_in_place():
    registry = ExecutionListeners()
    heard: list[str] = []
    registry.register("a", lambda s, e: heard.append("a1"))
    registry.register("b", lambda s, e: heard.append("b"))
    registry.register("a", lambda s, e: heard.append("a2"))
    registry.announce(None, ENDED)
    assert registry.names() == ["a", "b"] and heard == ["a2", "b"]
    registry.unregister("a")
    assert registry.names() == ["b"]


def test_the_deployment_manager_is_the_registered_listener():
    """The one place that says who listens registers the deployment manager (then the system
    manager, which aborts a rollout whose execution ended early), and a control plane's services
    carry that registry."""
    from pilothouse.services.deployments import on_execution_ended
    from pilothouse.settings import Settings
    from pilothouse.wiring import build_services

    assert default_listeners().names() == ["deployments", "system-rollouts"]
    services = build_services(Settings(store="memory", queue="memory"))
    assert services.listeners.names() == ["deployments", "system-rollouts"]
    assert services.listeners._listeners[0][1] is on_execution_ended


@pytest.mark.parametrize("module", ["execution_steps", "executions"])
def test_the_executor_does_not_import_the_deployment_manager(module):
    tree = ast.parse((ROOT / f"shared/pilothouse/services/{module}.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    assert not {m for m in imported if m.startswith("pilothouse.services.deployment")}


def test_an_execution_view_becomes_an_announcement():
    """Both shapes the orchestrators give (an engine record with ``arn``, a view with
    ``execution_arn``) map to the same announcement."""
    record = {"workflow": "w", "name": "e1", "arn": "a", "status": "ABORTED", "input": {"x": 1}, "trusted": 1}
    view = {**{k: v for k, v in record.items() if k != "arn"}, "execution_arn": "a"}
    assert ExecutionEnded.of(record) == ExecutionEnded.of(view)
    assert ExecutionEnded.of(record).trusted is True
    with pytest.raises(ValueError):
        ExecutionEnded.of({**record, "status": "RUNNING"})


# -- the EventBridge function: what it refuses before it asks Step Functions anything ---------------------


def _app():
    """The function's module as Lambda loads it (its folder's ``app.py``)."""
    import importlib.util

    path = ROOT / "functions/execution_status_changed/app.py"
    spec = importlib.util.spec_from_file_location("execution_status_changed_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def function(env, monkeypatch):
    """The function on a control plane that runs Step Functions with the prefix ``stack-``, a probe
    listener registered. Its Step Functions endpoint refuses connections: a refused event must not
    need it (asking would raise)."""
    from pilothouse.wiring import get_services

    monkeypatch.setenv("PILOTHOUSE_ORCHESTRATOR", "stepfunctions")
    monkeypatch.setenv("PILOTHOUSE_SFN_PREFIX", "stack-")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    heard: list[ExecutionEnded] = []
    get_services().listeners.register("probe", lambda s, ended: heard.append(ended))
    return _app(), heard


def _event(**detail_over) -> dict:
    event = json.loads((ROOT / "events/execution_status_changed.json").read_text())
    base = "arn:aws:states:us-east-1:000000000000"
    event["detail"].update(
        executionArn=f"{base}:execution:stack-pilothouse-canary:e1",
        stateMachineArn=f"{base}:stateMachine:stack-pilothouse-canary",
        name="e1",
    )
    event["detail"].update(detail_over)
    return event


def _without(key: str) -> dict:
    event = _event()
    del event["detail"][key]
    return event


FORGED = {
    "not a dict": ["aws.states"],
    "empty": {},
    "another source": {**_event(), "source": "custom.states"},
    "another detail-type": {**_event(), "detail-type": "Step Functions State Machine Status Change"},
    "no detail": {k: v for k, v in _event().items() if k != "detail"},
    "detail not an object": {**_event(), "detail": "FAILED"},
    "no execution ARN": _without("executionArn"),
    "unknown status": _event(status="EXPLODED"),
    "name too long": _event(name="x" * 81),
    "name no execution of ours has": _event(
        name="a b", executionArn="arn:aws:states:us-east-1:000000000000:execution:stack-pilothouse-canary:a b"
    ),
    "huge input": _event(input="x" * 300_000),
    "foreign state machine": _event(
        executionArn="arn:aws:states:us-east-1:000000000000:execution:other-pilothouse-canary:e1",
        stateMachineArn="arn:aws:states:us-east-1:000000000000:stateMachine:other-pilothouse-canary",
    ),
    "the prefix alone": _event(
        executionArn="arn:aws:states:us-east-1:000000000000:execution:stack-:e1",
        stateMachineArn="arn:aws:states:us-east-1:000000000000:stateMachine:stack-",
    ),
    "execution of another state machine": _event(
        executionArn="arn:aws:states:us-east-1:000000000000:execution:stack-other:e1"
    ),
    "execution ARN of another name": _event(name="e2"),
    "not a state machine ARN": _event(stateMachineArn="arn:aws:lambda:us-east-1:000000000000:function:x"),
}


@pytest.mark.parametrize("case", sorted(FORGED))
def test_the_function_ignores_malformed_foreign_and_forged_events(function, case, caplog):
    """Given an event that is not a well-formed status change of one of this control plane's state
    machines, the function answers "ignored", logs it, never raises, never asks Step Functions and
    announces nothing."""
    app, heard = function
    out = app.handler(FORGED[case], None)
    assert out["outcome"].startswith("ignored: "), out
    assert heard == []


def test_the_sample_event_is_well_formed():
    """The sample event (events/) is a status change the function parses, of a state machine named
    as template.yaml names them."""
    app = _app()
    change = app.parse(json.loads((ROOT / "events/execution_status_changed.json").read_text()))
    assert change is not None and change.detail.status == "ABORTED"
    assert app.workflow_of(change.detail, "pilothouse-dev-") == "pilothouse-canary"


def test_an_unreachable_orchestrator_raises_so_lambda_retries(function):
    """Given a well-formed event of one of ours, when Step Functions cannot be reached, then the
    function raises (Lambda's async retries and the dead-letter queue take over) and nobody hears
    an end that was not confirmed."""
    app, heard = function
    from botocore.exceptions import EndpointConnectionError

    with pytest.raises(EndpointConnectionError):
        app.handler(_event(), None)
    assert heard == []
