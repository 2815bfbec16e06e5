"""States per second: the engine in memory, the durable SQLite path, and moto's Step Functions
executor on the same definitions in the same run."""

from __future__ import annotations

import json
import os
import time

import pytest

from pilothouse.engine import run
from pilothouse.services import execution_chain
from tests.support.bench import report
from tests.support.executions import pass_chain

CHAIN = int(os.environ.get("BENCH_CHAIN", "100"))


def choice_loop(n: int) -> dict:
    return {
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Result": 0, "ResultPath": "$.i", "Next": "Check"},
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.i", "NumericGreaterThanEquals": n, "Next": "Done"}],
                "Default": "Inc",
            },
            "Inc": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"}, "Next": "Check"},
            "Done": {"Type": "Succeed"},
        },
    }


def map_of(n: int) -> dict:
    return {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 0,
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                "End": True,
            }
        },
    }


CASES = {
    f"{CHAIN} Pass states": (pass_chain(CHAIN), {}),
    f"Choice loop x{CHAIN // 2}": (choice_loop(CHAIN // 2), {}),
    f"Map of {CHAIN // 2} items": (map_of(CHAIN // 2), {"items": list(range(CHAIN // 2))}),
}


def states_entered(history: list) -> int:
    return sum(1 for e in history if e["type"].endswith("StateEntered"))


def _memory(definition, payload):
    t = time.perf_counter()
    result = run(definition, payload, invoke=lambda *a: None)
    return time.perf_counter() - t, result.status, states_entered(result.history)


def _durable(services, pool, cloud, definition, payload, name):
    """Seconds, status, states entered and steps stored of one durable run."""
    from pilothouse.services import executions, workflows
    from tests.support.controlplane import drain

    workflows.create(services, name, definition, actor="bench")
    t = time.perf_counter()
    executions.start(services, name, name="run", input=payload, actor="bench")
    drain(services, pool, cloud, [services.settings.executions_queue])
    elapsed = time.perf_counter() - t
    done = executions.describe(services, name, "run")
    events, _ = executions.history(services, name, "run", limit=100_000)
    return elapsed, done["status"], states_entered(events), done["step"]


def _one_state_per_step(monkeypatch):
    """The services the functions use with ``workflow_states_per_step=1`` (every state its own
    transaction, as before steps applied the states due at once together)."""
    from pilothouse.settings import get_settings
    from pilothouse.wiring import get_services

    monkeypatch.setenv("PILOTHOUSE_WORKFLOW_STATES_PER_STEP", "1")
    return get_services(get_settings())


def _moto(client, definition, payload, name):
    arn = client.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]
    t = time.perf_counter()
    ex = client.start_execution(stateMachineArn=arn, input=json.dumps(payload))["executionArn"]
    while client.describe_execution(executionArn=ex)["status"] == "RUNNING":
        time.sleep(0.001)
    elapsed = time.perf_counter() - t
    status = client.describe_execution(executionArn=ex)["status"]
    events = client.get_execution_history(executionArn=ex, maxResults=1000)["events"]
    return elapsed, status, sum(1 for e in events if e["type"].endswith("StateEntered"))


#: each side's best run counts (the first run of either pays imports and compilation)
ROUNDS_MEMORY, ROUNDS_MOTO = 20, 3


@pytest.mark.slow
def test_states_per_second(services, pool, cloud, monkeypatch):
    boto3 = pytest.importorskip("boto3")
    from moto import mock_aws

    _durable(services, pool, cloud, pass_chain(5), {}, "warmup")  # first imports and SQLite pages
    rows = {}
    for label, (definition, payload) in CASES.items():
        _memory(definition, payload)  # warm: first compilation of paths and templates
        t_mem, s_mem, n_mem = min(_memory(definition, payload) for _ in range(ROUNDS_MEMORY))
        t_dur, s_dur, n_dur, steps = _durable(services, pool, cloud, definition, payload, f"bench{len(rows)}")
        assert s_mem == s_dur == "SUCCEEDED" and n_mem == n_dur
        with monkeypatch.context() as m:  # every step handed over by its own queue message
            m.setattr(execution_chain, "CHAIN_STEPS", 0)
            t_msg, s_msg, n_msg, _ = _durable(
                services, pool, cloud, definition, payload, f"bench{len(rows)}m"
            )
        assert s_msg == "SUCCEEDED" and n_msg == n_dur
        with monkeypatch.context() as m:  # one state per step, each its own transaction
            one = _one_state_per_step(m)
            t_one, s_one, n_one, steps_one = _durable(
                one, pool, cloud, definition, payload, f"bench{len(rows)}o"
            )
        assert s_one == "SUCCEEDED" and n_one == n_dur
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            client = boto3.client("stepfunctions", region_name="us-east-1")
            t_moto, s_moto, n_moto = min(
                _moto(client, definition, payload, f"bench{len(rows)}-{i}") for i in range(ROUNDS_MOTO)
            )
        rows[label] = (
            f"memory {n_mem / t_mem:8.0f}/s   durable SQLite {n_dur / t_dur:6.0f}/s "
            f"({t_dur / n_dur * 1000:.2f} ms/state in {steps} steps, {t_dur / steps * 1000:.2f} ms/step; "
            f"{t_msg / n_msg * 1000:.2f} with a message per step; one state per step: "
            f"{t_one / n_one * 1000:.2f} ms/state in {steps_one} steps)   "
            f"moto {n_moto / t_moto:6.0f}/s [{s_moto}, {n_moto} states]   "
            f"memory = {(n_mem / t_mem) / (n_moto / t_moto):.0f}x moto"
        )
    report(
        f"states per second (a durable step applies the states due at once, up to "
        f"{services.settings.workflow_states_per_step}, in one conditional write; a worker chains the "
        f"steps due at once; best of {ROUNDS_MEMORY} in memory, {ROUNDS_MOTO} on moto)",
        rows,
    )
