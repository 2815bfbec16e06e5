"""Executions whose input and output are as large as Step Functions allows (256 KiB each): the
record and its history keep several copies of them (the context object, the state's input, the
task's payload, the events), more than one stored item holds on DynamoDB (400 KB). They run, read
back whole, and no stored item exceeds the limit, on SQLite and on DynamoDB (moto server)."""

from __future__ import annotations

import json

import pytest

from pilothouse.repositories.workflows import execution_pk
from tests.support.controlplane import drain
from tests.support.executions import Functions, describe, history, start, wf
from tests.support.stores import engine_services, use_moto_dynamodb

pytestmark = pytest.mark.timeout(600)

ITEM_LIMIT = 400_000  # DynamoDB's item size limit (bytes)
LIMIT = 256 * 1024  # Step Functions' payload limit (bytes of UTF-8 JSON)


@pytest.fixture(scope="module")
def moto():
    from tests.support.moto_server import MotoServer

    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("dynamodb", marks=pytest.mark.slow)])
def store_kind(request, env, monkeypatch):
    if request.param == "dynamodb":
        use_moto_dynamodb(monkeypatch, request.getfixturevalue("moto").url, "large")
    return request.param


@pytest.fixture
def fns(monkeypatch):
    return Functions(monkeypatch)


@pytest.fixture
def services(store_kind, clock, fns):
    return engine_services(clock, fns)


def payload(fill: str) -> dict:
    """A JSON object of exactly 256 KiB (compact, UTF-8), of quotes-heavy text: escaped again
    inside the history's JSON strings it grows, as AWS's own strings do."""
    body = {"pad": ""}
    base = len(json.dumps(body, separators=(",", ":")).encode())
    unit = json.dumps(fill)[1:-1]  # the fill as it appears escaped inside the JSON text
    body["pad"] = fill * ((LIMIT - base) // len(unit.encode()))
    short = LIMIT - len(json.dumps(body, separators=(",", ":")).encode())
    body["pad"] += "x" * short
    assert len(json.dumps(body, separators=(",", ":")).encode()) == LIMIT
    return body


def _size(data: dict) -> int:
    return len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())


FLOW = {
    "StartAt": "Work",
    "States": {
        "Work": {"Type": "Task", "Resource": "echo", "Next": "Keep"},
        "Keep": {"Type": "Pass", "End": True},
    },
}


def test_an_execution_with_a_256_kib_input_and_output_runs_and_reads_back_whole(
    api, services, fns, pool, cloud
):
    """Given an input of 256 KiB and a task answering 256 KiB, when the execution runs, then it
    succeeds, describe gives the input and output whole, the history's first and last events
    carry them whole, and no item of the execution's partition exceeds DynamoDB's 400 KB."""
    given = payload('"')
    answer = payload("é")
    fns.fns["echo"] = lambda p: answer if p == given else {"wrong": True}
    wf(api, "large", FLOW)
    start(api, "large", given, name="one")
    assert drain(services, pool, cloud) == []
    done = describe(api, "large", "one")
    assert done["status"] == "SUCCEEDED", {k: done[k] for k in ("status", "error", "cause")}
    assert done["input"] == given and done["output"] == answer
    events = history(api, "large", "one")
    assert events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded"
    assert json.loads(events[0]["executionStartedEventDetails"]["input"]) == given
    assert json.loads(events[-1]["executionSucceededEventDetails"]["output"]) == answer
    stored = services.store.scan_all(execution_pk("large", "one"))
    assert max(_size(i.data) for i in stored) < ITEM_LIMIT


def test_a_large_execution_fails_is_redriven_and_its_map_runs_over_the_large_input(
    api, services, fns, pool, cloud
):
    """Given a 256 KiB input whose inline Map's first run fails on one item, when it is
    redriven, then only that item runs again, it succeeds with the whole result, and no stored
    item exceeds the limit nor is any body piece left that its record does not name."""
    from pilothouse.repositories import execution_bodies as bodies

    given = {"items": [{"i": i, "pad": "\\u00e9" * 2000} for i in range(20)]}  # ~260 KB escaped
    while len(json.dumps(given, separators=(",", ":")).encode()) > LIMIT:
        given["items"].pop()
    fixed: list[bool] = []

    def work(p):
        if p["i"] == 3 and not fixed:
            raise RuntimeError("item 3 is broken")
        return {"i": p["i"], "pad": p["pad"][:1000]}

    fns.fns["work"] = work
    flow = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "StartAt": "W",
                    "States": {"W": {"Type": "Task", "Resource": "work", "End": True}},
                },
                "End": True,
            }
        },
    }
    wf(api, "redo", flow)
    start(api, "redo", given, name="one")
    assert drain(services, pool, cloud) == []
    assert describe(api, "redo", "one")["status"] == "FAILED"
    fixed.append(True)
    status, _, _ = api.post("/v1/workflows/redo/executions/one/redrive")
    assert status == 200
    assert drain(services, pool, cloud) == []
    done = describe(api, "redo", "one")
    assert done["status"] == "SUCCEEDED", {k: done[k] for k in ("status", "error", "cause")}
    assert done["input"] == given
    assert [o["i"] for o in done["output"]] == [i["i"] for i in given["items"]]
    stored = services.store.scan_all(execution_pk("redo", "one"))
    assert max(_size(i.data) for i in stored) < ITEM_LIMIT
    record = next(i for i in stored if i.sk == "RECORD")
    pieces = {i.sk.removeprefix(bodies.BODY_PREFIX) for i in stored if i.sk.startswith(bodies.BODY_PREFIX)}
    assert pieces == set(record.data.get("body") or [])


CALLBACK = {
    "StartAt": "Approve",
    "States": {
        "Approve": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "notify", "Payload": {"token.$": "$$.Task.Token"}},
            "HeartbeatSeconds": 600,
            "Catch": [{"ErrorEquals": ["Rejected"], "ResultPath": "$.why", "Next": "No"}],
            "End": True,
        },
        "No": {"Type": "Fail", "Error": "Rejected"},
    },
}


def test_racing_heartbeats_and_answers_on_a_large_execution_leave_one_whole_record(
    api, services, fns, pool, cloud, store_kind
):
    """Given a waiting callback task of an execution with a 256 KiB input, when heartbeats, a
    success with a 256 KiB output and a failure race on its token, then exactly one answer wins,
    the execution ends as that answer says with its output whole, its history holds each event
    once, and its record names exactly the body pieces stored."""
    from concurrent.futures import ThreadPoolExecutor

    from pilothouse.repositories import execution_bodies as bodies

    given = payload('"')
    answer = payload("\\")
    fns.fns["notify"] = lambda p: None
    wf(api, "race", CALLBACK)
    start(api, "race", given, name="one")
    assert drain(services, pool, cloud) == []
    token = fns.payloads["notify"][0]["token"]

    def send(i: int) -> int:
        if i == 10:
            return api.post("/v1/task-tokens/success", {"token": token, "output": answer})[0]
        if i == 11:
            return api.post("/v1/task-tokens/failure", {"token": token, "error": "Rejected"})[0]
        return api.post("/v1/task-tokens/heartbeat", {"token": token})[0] + 1000

    with ThreadPoolExecutor(6) as ex:
        codes = list(ex.map(send, range(12)))
    # the loser is a 404 (its token is gone) or, read before the winner committed, a 200 that
    # changes nothing: the history shows one answer
    assert set(codes[10:]) <= {200, 404} and 200 in codes[10:] and set(codes[:10]) <= {1200, 1404}, codes
    assert drain(services, pool, cloud) == []
    done = describe(api, "race", "one")
    assert done["status"] in ("SUCCEEDED", "FAILED")
    if done["status"] == "SUCCEEDED":
        assert done["output"] == answer
    assert done["input"] == given
    events = history(api, "race", "one")
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert sum(e["type"] in ("TaskSucceeded", "TaskFailed") for e in events) == 1
    stored = services.store.scan_all(execution_pk("race", "one"))
    assert max(_size(i.data) for i in stored) < ITEM_LIMIT
    record = next(i for i in stored if i.sk == "RECORD")
    pieces = {i.sk.removeprefix(bodies.BODY_PREFIX) for i in stored if i.sk.startswith(bodies.BODY_PREFIX)}
    assert pieces == set(record.data.get("body") or [])
