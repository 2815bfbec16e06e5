"""A Distributed Map survives its worker process being SIGKILLed again and again: no item is lost
and no child that completed runs again."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pilothouse.repositories.execution_chunks import SPILL_BYTES
from pilothouse.services import executions, map_runs, workflows

WORKER = Path(__file__).with_name("dmap_worker.py")
ITEMS = 40


def definition() -> dict:
    return {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "Parameters": {"Bucket": "data", "Key": "items.json"},
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Work",
                    "States": {
                        "Work": {
                            "Type": "Task",
                            "Resource": "work",
                            "Retry": [
                                {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 5}
                            ],
                            "End": True,
                        }
                    },
                },
                "MaxConcurrency": 4,
                "ResultWriter": {
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {"Bucket": "data", "Prefix": "out"},
                },
                "End": True,
            }
        },
    }


@pytest.mark.slow
@pytest.mark.parametrize("pad", [0, 2000, 12_000], ids=["inline", "chunked", "pieces"])
def test_sigkilled_workers_lose_no_item_and_rerun_no_completed_child(env, monkeypatch, tmp_path, pad):
    """(``chunked``: the items are large enough to leave the record in STATE# chunks; ``pieces``:
    so large that the ResultWriter's request leaves the record in BODY# pieces. Whatever it was,
    no chunk or piece is left when the execution ends.)"""
    monkeypatch.setenv("PILOTHOUSE_WORKFLOW_TASK_FUNCTIONS", "work")
    from pilothouse.settings import get_settings
    from pilothouse.wiring import Services, register_services

    services = Services(get_settings())
    register_services(services)
    items = [{"n": i, "pad": "x" * pad} for i in range(ITEMS)]
    assert (len(json.dumps(items)) > SPILL_BYTES) == bool(pad)
    services.blobs.put(map_runs.S3_ROOT + "data/items.json", json.dumps(items).encode())
    workflows.create(services, "fan", definition(), actor="test")
    executions.start(services, "fan", name="one", input={}, actor="test")
    calls = tmp_path / "calls.jsonl"
    calls.touch()
    child_env = {**os.environ, "CALLS_FILE": str(calls)}
    rng = random.Random(int(os.environ.get("DMAP_SEED", "19")))
    killed: set[int] = set()
    progress: list[int] = []  # task calls started when each SIGKILL hit
    deadline = time.monotonic() + 120
    proc = None
    try:
        while time.monotonic() < deadline:
            proc = subprocess.Popen([sys.executable, str(WORKER)], env=child_env, start_new_session=True)
            if len(killed) < 5:
                # kill it mid-run: once it has started a few more task calls (or after a while)
                target = calls.read_text().count('"start"') + rng.randint(1, 8)
                until = time.monotonic() + rng.uniform(2.0, 8.0)
                while time.monotonic() < until and calls.read_text().count('"start"') < target:
                    time.sleep(0.01)
                time.sleep(rng.uniform(0, 0.05))
                os.killpg(proc.pid, signal.SIGKILL)
                progress.append(calls.read_text().count('"start"'))
                proc.wait()
                killed.add(proc.pid)
                continue
            while time.monotonic() < deadline:
                if executions.describe(services, "fan", "one")["status"] != "RUNNING":
                    break
                time.sleep(0.2)
            break
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    done = executions.describe(services, "fan", "one")
    assert done["status"] == "SUCCEEDED", (done["error"], done["cause"])
    map_run = done["output"]["MapRunArn"].rsplit(":", 1)[1]
    kids = services.store.scan_all("EXEC#" + map_runs.children_workflow("fan", map_run))
    assert len(kids) == ITEMS and {k.data["status"] for k in kids} == {"SUCCEEDED"}
    manifest = json.loads(
        services.blobs.get(map_runs.S3_ROOT + "data/" + done["output"]["ResultWriterDetails"]["Key"])
    )
    [ok] = manifest["ResultFiles"]["SUCCEEDED"]
    entries = json.loads(services.blobs.get(map_runs.S3_ROOT + "data/" + ok["Key"]))
    outputs = {json.loads(e["Output"])["n"]: json.loads(e["Output"])["by"] for e in entries}
    assert sorted(outputs) == list(range(ITEMS))
    lines = [json.loads(line) for line in calls.read_text().splitlines() if line.strip()]
    for n in range(ITEMS):
        ended = [c for c in lines if c["n"] == n and c["at"] == "end"]
        # the call whose answer the child kept finished; any other call of the item was cut short
        # by a SIGKILL (its worker died before answering) or answered by a worker that then died
        assert outputs[n] in {c["pid"] for c in ended}
        extra = [c for c in ended if c["pid"] != outputs[n]]
        assert all(c["pid"] in killed for c in extra), (n, extra, killed)
    from pilothouse.repositories.execution_bodies import BODY_PREFIX
    from pilothouse.repositories.execution_chunks import CHUNK_PREFIX
    from pilothouse.repositories.workflows import execution_pk

    left = [
        i.sk
        for i in services.store.scan_all(execution_pk("fan", "one"))
        if i.sk.startswith((CHUNK_PREFIX, BODY_PREFIX))
    ]
    assert left == []
    print(
        f"\nSIGKILLs: {len(killed)} (after {progress} task calls); "
        f"task calls: {sum(1 for c in lines if c['at'] == 'start')} for {ITEMS} items"
    )
