"""Distributed Map on the durable executor: items from the blobs port, child executions of their
own, MaxConcurrency, tolerated failures, results in AWS's layout, and recovery after a crash."""

from __future__ import annotations

import json

import pytest

from pilothouse.repositories.workflows import ExecutionRepository, executions_pk
from pilothouse.services import map_runs
from pilothouse.services.execution_steps import sweep
from tests.support.controlplane import drain
from tests.support.executions import Functions, describe, engine_services, history, start, wf

pytestmark = pytest.mark.usefixtures("env")


@pytest.fixture
def fns(monkeypatch):
    return Functions(monkeypatch)


@pytest.fixture
def services(env, clock, fns):
    return engine_services(clock, fns)


@pytest.fixture
def run(services, pool, cloud):
    return lambda: drain(services, pool, cloud)


def dmap(**extra) -> dict:
    state = {
        "Type": "Map",
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:getObject",
            "Parameters": {"Bucket": "data", "Key": "items.json"},
        },
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Work",
            "States": {"Work": {"Type": "Task", "Resource": "work", "End": True}},
        },
        "ResultWriter": {
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": "data", "Prefix": "out"},
        },
        "End": True,
    }
    state.update(extra)
    return {"StartAt": "Fan", "States": {"Fan": state}}


def put_items(services, items, key="items.json"):
    services.blobs.put(f"{map_runs.S3_ROOT}data/{key}", json.dumps(items).encode())


def children(services, workflow, map_run):
    """The child executions' records (found through their workflow's listing)."""
    wf_key = map_runs.children_workflow(workflow, map_run)
    repo = ExecutionRepository(services.store)
    return [repo.require(wf_key, i.sk).data for i in services.store.scan_all(executions_pk(wf_key))]


def blob_json(services, key):
    return json.loads(services.blobs.get(map_runs.S3_ROOT + "data/" + key))


def test_items_from_blobs_run_as_child_executions_with_results_in_aws_layout(api, run, fns, services):
    """Given 7 items in a JSON object and MaxConcurrency 3, when the workflow runs, then each item is
    a child execution with its own history, never more than 3 run at once, and the results are
    written as AWS does (manifest + SUCCEEDED_0.json) with the ResultWriter details as output."""
    put_items(services, [{"n": i} for i in range(7)])
    in_flight: list[int] = []

    def work(payload):
        running = [
            c
            for item in services.store.scan_all("EXECRUNNING")
            if ":" in item.data["workflow"]
            for c in [item.data]
        ]
        in_flight.append(len(running))
        return {"double": payload["n"] * 2}

    fns.fns["work"] = work
    wf(api, "fan", dmap(MaxConcurrency=3))
    start(api, "fan", {}, name="one")
    run()
    done = describe(api, "fan", "one")
    assert done["status"] == "SUCCEEDED", done
    details = done["output"]["ResultWriterDetails"]
    map_run_arn = done["output"]["MapRunArn"]
    assert ":mapRun:fan/Fan:" in map_run_arn and details["Bucket"] == "data"
    map_run = map_run_arn.rsplit(":", 1)[1]
    assert details["Key"] == f"out/{map_run}/manifest.json"
    manifest = blob_json(services, details["Key"])
    assert manifest["DestinationBucket"] == "data" and manifest["MapRunArn"] == map_run_arn
    assert manifest["ResultFiles"]["FAILED"] == [] and manifest["ResultFiles"]["PENDING"] == []
    [succeeded] = manifest["ResultFiles"]["SUCCEEDED"]
    entries = blob_json(services, succeeded["Key"].removeprefix(""))
    assert [json.loads(e["Output"]) for e in entries] == [{"double": i * 2} for i in range(7)]
    assert {e["Status"] for e in entries} == {"SUCCEEDED"}
    assert all(
        e["ExecutionArn"].startswith("arn:aws:states:us-east-1:123456789012:execution:fan/Fan:")
        for e in entries
    )
    assert max(in_flight) == 3 and len(in_flight) == 7
    assert fns.calls["work"] == 7
    kids = children(services, "fan", map_run)
    assert len(kids) == 7 and {k["status"] for k in kids} == {"SUCCEEDED"}
    [described] = map_runs.describe_map_runs(services, "fan", "one")
    assert described["mapRunArn"] == map_run_arn and described["status"] == "SUCCEEDED"
    assert described["itemCounts"]["succeeded"] == 7 and described["maxConcurrency"] == 3
    assert described["stopDate"] and described["childrenWorkflow"] == f"fan:{map_run}"
    child_wf = map_runs.children_workflow("fan", map_run)
    status, _, listed = api.get(f"/v1/workflows/{child_wf}/executions", query="limit=50")
    assert status == 200 and len(listed["items"]) == 7, listed
    assert {i["status"] for i in listed["items"]} == {"SUCCEEDED"}
    kid_view = describe(api, child_wf, kids[0]["name"])
    assert kid_view["execution_arn"] == kids[0]["arn"] and kid_view["status"] == "SUCCEEDED"
    kid_history = history(api, child_wf, kids[0]["name"])
    assert kid_history[0]["type"] == "ExecutionStarted" and kid_history[-1]["type"] == "ExecutionSucceeded"
    assert "TaskScheduled" in [e["type"] for e in kid_history]
    parent_types = [e["type"] for e in history(api, "fan", "one")]
    assert parent_types == [
        "ExecutionStarted",
        "MapStateEntered",
        "MapRunStarted",
        "MapRunSucceeded",
        "MapStateSucceeded",
        "MapStateExited",
        "ExecutionSucceeded",
    ]


def test_failures_beyond_the_tolerance_fail_the_map_run(api, run, fns, services):
    """Given 10 items of which 3 fail and ToleratedFailureCount 2, the execution fails with
    States.ExceedToleratedFailureThreshold and the results still say which failed."""
    put_items(services, [{"n": i} for i in range(10)])

    def work(payload):
        if payload["n"] in (2, 5, 8):
            raise ValueError(f"bad item {payload['n']}")
        return payload

    fns.fns["work"] = work
    wf(api, "fan", dmap(ToleratedFailureCount=2, MaxConcurrency=1))
    start(api, "fan", {}, name="one")
    run()
    done = describe(api, "fan", "one")
    assert done["status"] == "FAILED" and done["error"] == "States.ExceedToleratedFailureThreshold", done
    assert fns.calls["work"] == 9  # the 10th item never started
    manifest_key = next(
        i.key
        for i in services.blobs.list(map_runs.S3_ROOT + "data/out/")[0]
        if i.key.endswith("manifest.json")
    )
    manifest = json.loads(services.blobs.get(manifest_key))
    failed = json.loads(
        services.blobs.get(map_runs.S3_ROOT + "data/" + manifest["ResultFiles"]["FAILED"][0]["Key"])
    )
    pending = json.loads(
        services.blobs.get(map_runs.S3_ROOT + "data/" + manifest["ResultFiles"]["PENDING"][0]["Key"])
    )
    assert [json.loads(e["Input"])["n"] for e in failed] == [2, 5, 8]
    assert {e["Error"] for e in failed} == {"ValueError"}
    assert [json.loads(e["Input"])["n"] for e in pending] == [9]


def test_tolerated_failures_let_the_map_run_succeed(api, run, fns, services):
    put_items(services, [{"n": i} for i in range(10)])
    fns.fns["work"] = lambda p: (_ for _ in ()).throw(ValueError("odd")) if p["n"] % 2 else p
    definition = dmap(ToleratedFailurePercentage=50)
    del definition["States"]["Fan"]["ResultWriter"]
    wf(api, "fan", definition)
    start(api, "fan", {}, name="one")
    run()
    done = describe(api, "fan", "one")
    assert done["status"] == "SUCCEEDED", done
    assert [o.get("n", o.get("Error")) for o in done["output"]] == [
        0,
        "ValueError",
        2,
        "ValueError",
        4,
        "ValueError",
        6,
        "ValueError",
        8,
        "ValueError",
    ]


def test_a_missing_object_fails_with_item_reader_failed(api, run, fns, services):
    fns.fns["work"] = lambda p: p
    wf(api, "fan", dmap())
    start(api, "fan", {}, name="one")
    run()
    done = describe(api, "fan", "one")
    assert done["status"] == "FAILED" and done["error"] == "States.ItemReaderFailed", done
    assert "S3.NoSuchKey" in done["cause"]


def test_workflows_cannot_read_blobs_outside_their_root(api, run, fns, services):
    """Given a blob outside the S3 root, a bucket name with '..' or a key climbing out, reading it
    fails: a workflow sees only the blobs under s3/."""
    services.blobs.put("secret/keys.json", b"[1]")
    fns.fns["work"] = lambda p: p
    for n, (bucket, key) in enumerate(
        [("..", "secret/keys.json"), ("data", "../../secret/keys.json"), ("a/b", "x")]
    ):
        definition = dmap()
        definition["States"]["Fan"]["ItemReader"]["Parameters"] = {"Bucket": bucket, "Key": key}
        wf(api, f"fan{n}", definition)
        start(api, f"fan{n}", {}, name="one")
        run()
        done = describe(api, f"fan{n}", "one")
        assert done["status"] == "FAILED" and done["error"] == "States.ItemReaderFailed", done
    assert "work" not in fns.calls


def test_a_crash_between_writes_loses_no_child_and_runs_none_twice(api, run, fns, services, monkeypatch):
    """Given a process that dies after the parent's step is stored but before its children are
    created, and again after a child ended but before it asked its parent to count it, the sweep
    starts the missing children and harvests the ended ones: every item runs exactly once."""
    put_items(services, [{"n": i} for i in range(6)])
    fns.fns["work"] = lambda p: p
    wf(api, "fan", dmap(MaxConcurrency=2))
    from pilothouse.services import execution_steps

    real_start, real_report = map_runs.start_child, execution_steps._report_to_parent
    crashes = {"start": 2, "report": 2}

    def flaky_start(*a, **kw):
        if crashes["start"]:
            crashes["start"] -= 1
            raise RuntimeError("killed before the child was created")
        return real_start(*a, **kw)

    def flaky_report(*a, **kw):
        if crashes["report"]:
            crashes["report"] -= 1
            return None  # killed after the child's last step, before the harvest was asked for
        return real_report(*a, **kw)

    monkeypatch.setattr(map_runs, "start_child", flaky_start)
    monkeypatch.setattr(execution_steps, "_report_to_parent", flaky_report)
    start(api, "fan", {}, name="one")
    for _ in range(20):
        run()
        if describe(api, "fan", "one")["status"] != "RUNNING":
            break
        sweep(services)
    done = describe(api, "fan", "one")
    assert done["status"] == "SUCCEEDED", done
    assert crashes == {"start": 0, "report": 0}
    assert fns.calls["work"] == 6
    map_run = done["output"]["MapRunArn"].rsplit(":", 1)[1]
    assert len(children(services, "fan", map_run)) == 6
    # a duplicated report (a redelivered end) changes nothing
    kid = children(services, "fan", map_run)[0]
    before = describe(api, "fan", "one")["step"]
    map_runs.report_end(services, kid)
    assert describe(api, "fan", "one")["step"] == before


def test_stopping_the_parent_stops_its_children(api, run, fns, services):
    """Given a map run with 2 children waiting, when the parent is stopped, they are aborted and
    the others never start; the running map run is described as AWS's DescribeMapRun does."""
    put_items(services, [{"n": i} for i in range(4)])
    definition = dmap(MaxConcurrency=2)
    processor = definition["States"]["Fan"]["ItemProcessor"]
    processor["States"]["Work"] = {"Type": "Wait", "Seconds": 3600, "End": True}
    wf(api, "fan", definition)
    start(api, "fan", {}, name="one")
    run()
    [described] = map_runs.describe_map_runs(services, "fan", "one")
    assert described["itemCounts"] == {
        "pending": 2,
        "running": 2,
        "succeeded": 0,
        "failed": 0,
        "timedOut": 0,
        "aborted": 0,
        "total": 4,
    }
    map_run = described["mapRunArn"].rsplit(":", 1)[1]
    status, _, body = api.post("/v1/workflows/fan/executions/one/stop", {})
    assert status == 200, body
    run()
    assert describe(api, "fan", "one")["status"] == "ABORTED"
    kids = children(services, "fan", map_run)
    assert len(kids) == 2 and {k["status"] for k in kids} == {"ABORTED"}


def test_max_concurrency_holds_with_workers_in_parallel(api, fns, services, pool, cloud):
    """Given 4 workers draining the queues at once and MaxConcurrency 3 over 24 items, no more
    than 3 children ever run a task at the same time (a counter under a lock), and every item
    runs exactly once."""
    import threading
    import time

    put_items(services, [{"n": i} for i in range(24)])
    lock = threading.Lock()
    state = {"now": 0, "max": 0}
    seen: list[int] = []

    def work(payload):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
            seen.append(payload["n"])
        time.sleep(0.002)
        with lock:
            state["now"] -= 1
        return payload

    fns.fns["work"] = work
    wf(api, "fan", dmap(MaxConcurrency=3))
    start(api, "fan", {}, name="one")
    errors: list[BaseException] = []

    def worker():
        try:
            for _ in range(200):
                drain(services, pool, cloud)
                if describe(api, "fan", "one")["status"] != "RUNNING":
                    return
                time.sleep(0.005)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for _ in range(20):  # a step that lost a race is picked up by the sweep
        if describe(api, "fan", "one")["status"] != "RUNNING":
            break
        sweep(services, stale_after=0)
        drain(services, pool, cloud)
    assert not errors, errors
    done = describe(api, "fan", "one")
    assert done["status"] == "SUCCEEDED", done
    assert 1 <= state["max"] <= 3, state
    assert sorted(seen) == list(range(24))


def test_redrive_reruns_only_the_children_that_did_not_succeed(api, run, fns, services):
    """Given a map run that failed because 2 of 8 children failed, when the execution is redriven
    (the cause fixed), only those 2 items run again, as new child executions, and it succeeds with
    every result."""
    put_items(services, [{"n": i} for i in range(8)])
    broken = {"on": True}
    succeeded: list[int] = []

    def work(payload):
        if broken["on"] and payload["n"] in (3, 6):
            raise ValueError("not yet")
        succeeded.append(payload["n"])
        return {"n": payload["n"]}

    fns.fns["work"] = work
    wf(api, "fan", dmap(ToleratedFailureCount=1, MaxConcurrency=2))
    start(api, "fan", {}, name="one")
    run()
    failed = describe(api, "fan", "one")
    assert failed["error"] == "States.ExceedToleratedFailureThreshold", failed
    first_calls = fns.calls["work"]
    broken["on"] = False
    status, _, body = api.post("/v1/workflows/fan/executions/one/redrive", {})
    assert status == 200, body
    run()
    done = describe(api, "fan", "one")
    assert done["status"] == "SUCCEEDED", done
    assert sorted(succeeded) == list(range(8))  # no child that succeeded ran again
    assert first_calls < fns.calls["work"] < first_calls + 8
    manifest = blob_json(services, done["output"]["ResultWriterDetails"]["Key"])
    entries = blob_json(services, manifest["ResultFiles"]["SUCCEEDED"][0]["Key"])
    assert sorted(json.loads(e["Output"])["n"] for e in entries) == list(range(8))
    assert manifest["ResultFiles"]["FAILED"] == []
    redriven = {int(e["Name"].split("_")[1]) for e in entries if e["Name"].endswith("_r1")}
    assert {3, 6} <= redriven  # (and any child the failure aborted)


def test_an_item_read_whose_worker_died_is_read_again(api, run, fns, services, clock, pool, cloud):
    """Given a worker that took the lease of the ItemReader's S3 call and died (its message gone),
    when its lease lapses the sweep issues the call again (reading is idempotent) instead of
    failing the map run, and the execution succeeds."""
    from pilothouse.services import execution_steps

    put_items(services, [{"n": i} for i in range(3)])
    fns.fns["work"] = lambda p: p
    wf(api, "fan", dmap())
    start(api, "fan", {}, name="one")
    drain(services, pool, cloud, [services.settings.executions_queue])
    q = services.settings.tasks_queue
    [msg] = services.queue.receive(q, max_messages=10)
    task_id = json.loads(msg.body)["task_id"]
    assert execution_steps.lease(services, "fan", "one", task_id) is not None
    services.queue.delete(q, msg.receipt_handle)  # the worker died holding it
    clock.advance(600)
    counts = sweep(services)
    assert counts["lapsed"] == 1
    run()
    done = describe(api, "fan", "one")
    assert done["status"] == "SUCCEEDED", done
    assert fns.calls["work"] == 3
