"""Durability of workflow executions: `pilothouse dev` killed (SIGKILL) again and again mid-run.

A throwaway project (this repository's template plus a counting Task function) runs under a real
`pilothouse dev` process. About 25 executions of three workflows (Task with Retry and Catch, Wait,
Choice, Parallel, Map) are started, then the process group is killed at random moments and started
again on the same data directory, several times. Then, once everything is finished:

* every execution ended as its definition dictates, with exactly the output computed here;
* its history has ids 1..n and ends with ExecutionSucceeded (or ExecutionFailed);
* the calls the function recorded show at-most-once per attempt: for each task (execution, state,
  map item / branch) the attempts ($$.State.RetryCount) strictly increase, there are no more calls
  than 1 + MaxAttempts, and no more than 1 + its planned failures + one per crash that hit it.

The seed comes from PILOTHOUSE_DURABILITY_SEED (default fixed), so a failing run can be replayed.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.controlplane import ROOT

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
COUNTING_TASK_DIR = HERE / "durability_project" / "counting_task"
SEED = int(os.environ.get("PILOTHOUSE_DURABILITY_SEED", "20250611"))
FINISH_TIMEOUT = 120.0
HEALTH_TIMEOUT = 30.0
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}

# -- the workflows -------------------------------------------------------------------------------

TASK = "arn:aws:lambda:us-east-1:000000000000:function:CountingTaskFunction"
MAX_ATTEMPTS = 8
# Fatal is never retried (a retrier of 0 attempts matched first: Catch decides); Flaky and a task
# whose worker died (States.TaskFailed, which as a wildcard would also match Fatal) are retried.
RETRY = [
    {"ErrorEquals": ["Fatal"], "MaxAttempts": 0},
    {
        "ErrorEquals": ["Flaky", "States.TaskFailed"],
        "IntervalSeconds": 1,
        "MaxAttempts": MAX_ATTEMPTS,
        "BackoffRate": 1.0,
    },
]
IDENTITY = {
    "execution.$": "$$.Execution.Name",
    "state.$": "$$.State.Name",
    "attempt.$": "$$.State.RetryCount",
}

CHAIN = {
    "Comment": "Task (Retry, Catch) -> Wait -> Choice",
    "StartAt": "Work",
    "States": {
        "Work": {
            "Type": "Task",
            "Resource": TASK,
            "Parameters": {
                **IDENTITY,
                "unit": "main",
                "value.$": "$.value",
                "fail_times.$": "$.fail_times",
                "fatal.$": "$.fatal",
                "sleep.$": "$.sleep",
            },
            "ResultPath": "$.work",
            "Retry": RETRY,
            "Catch": [{"ErrorEquals": ["Fatal"], "ResultPath": "$.error", "Next": "Rescue"}],
            "Next": "Pause",
        },
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Size"},
        "Size": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.work.value", "NumericGreaterThanEquals": 50, "Next": "Big"}],
            "Default": "Small",
        },
        "Big": {"Type": "Pass", "Result": "big", "ResultPath": "$.size", "End": True},
        "Small": {"Type": "Pass", "Result": "small", "ResultPath": "$.size", "End": True},
        "Rescue": {
            "Type": "Choice",
            "Default": "Rescued",
            "Choices": [{"Variable": "$.strict", "BooleanEquals": True, "Next": "GiveUp"}],
        },
        "Rescued": {"Type": "Pass", "Result": "rescued", "ResultPath": "$.size", "End": True},
        "GiveUp": {"Type": "Fail", "Error": "GaveUp", "Cause": "the task was fatal"},
    },
}

FANOUT = {
    "Comment": "Parallel: Task | Pass -> Task | Wait -> Pass",
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Parallel",
            "ResultPath": "$.branches",
            "Next": "Total",
            "Branches": [
                {
                    "StartAt": "Left",
                    "States": {
                        "Left": {
                            "Type": "Task",
                            "Resource": TASK,
                            "Retry": RETRY,
                            "End": True,
                            "Parameters": {
                                **IDENTITY,
                                "unit": "left",
                                "value.$": "$.value",
                                "fail_times.$": "$.fail_left",
                                "sleep.$": "$.sleep",
                            },
                        }
                    },
                },
                {
                    "StartAt": "Shift",
                    "States": {
                        "Shift": {
                            "Type": "Pass",
                            "Next": "Right",
                            "Parameters": {
                                "value.$": "States.MathAdd($.value, 100)",
                                "sleep.$": "$.sleep",
                                "fail_right.$": "$.fail_right",
                            },
                        },
                        "Right": {
                            "Type": "Task",
                            "Resource": TASK,
                            "Retry": RETRY,
                            "End": True,
                            "Parameters": {
                                **IDENTITY,
                                "unit": "right",
                                "value.$": "$.value",
                                "fail_times.$": "$.fail_right",
                                "sleep.$": "$.sleep",
                            },
                            "ResultSelector": {"right.$": "$.value"},
                        },
                    },
                },
                {
                    "StartAt": "Nap",
                    "States": {
                        "Nap": {"Type": "Wait", "Seconds": 2, "Next": "Woke"},
                        "Woke": {"Type": "Pass", "Result": "rested", "End": True},
                    },
                },
            ],
        },
        "Total": {
            "Type": "Pass",
            "End": True,
            "Parameters": {
                "sum.$": "States.MathAdd($.branches[0].value, $.branches[1].right)",
                "branches.$": "$.branches",
            },
        },
    },
}

EACH = {
    "Comment": "Map (MaxConcurrency 3) of Task -> Choice -> Pass, then Wait",
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 3,
            "ResultPath": "$.results",
            "Next": "Cool",
            "ItemSelector": {
                "index.$": "$$.Map.Item.Index",
                "n.$": "$$.Map.Item.Value.n",
                "fail_times.$": "$$.Map.Item.Value.fail_times",
                "sleep.$": "$.sleep",
            },
            "ItemProcessor": {
                "StartAt": "Item",
                "States": {
                    "Item": {
                        "Type": "Task",
                        "Resource": TASK,
                        "Retry": RETRY,
                        "Next": "Bucket",
                        "Parameters": {
                            **IDENTITY,
                            "index.$": "$.index",
                            "value.$": "$.n",
                            "fail_times.$": "$.fail_times",
                            "sleep.$": "$.sleep",
                        },
                        "ResultSelector": {"v.$": "$.value"},
                    },
                    "Bucket": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$.v", "NumericGreaterThanEquals": 10, "Next": "Large"}],
                        "Default": "Little",
                    },
                    "Large": {"Type": "Pass", "Parameters": {"large.$": "$.v"}, "End": True},
                    "Little": {"Type": "Pass", "Parameters": {"little.$": "$.v"}, "End": True},
                },
            },
        },
        "Cool": {"Type": "Wait", "Seconds": 1, "End": True},
    },
}

WORKFLOWS = {"chain": CHAIN, "fanout": FANOUT, "each": EACH}


@dataclass
class Expected:
    """What one execution must end as, computed from its input without the product."""

    workflow: str
    name: str
    input: dict
    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None
    #: (state, unit) -> how many calls fail on purpose before one succeeds (None: fails for good)
    units: dict[tuple[str, str], int | None] = field(default_factory=dict)


def _fatal_cause(unit: str) -> str:
    return json.dumps({"errorMessage": f"{unit} cannot go on", "errorType": "Fatal"})


def plan(rng: random.Random) -> list[Expected]:
    sleeps = [0.05, 0.1, 0.2, 0.3]
    out: list[Expected] = []
    for i in range(9):
        name = f"chain-{i:02d}"
        fatal, strict = i in (3, 7), i == 3
        inp = {
            "value": rng.randint(1, 40),
            "fail_times": rng.choice([0, 0, 1, 2]),
            "fatal": fatal,
            "strict": strict,
            "sleep": rng.choice(sleeps),
        }
        if fatal and strict:
            exp = Expected("chain", name, inp, "FAILED", error="GaveUp", cause="the task was fatal")
        elif fatal:
            exp = Expected(
                "chain",
                name,
                inp,
                "SUCCEEDED",
                output={**inp, "error": {"Error": "Fatal", "Cause": _fatal_cause("main")}, "size": "rescued"},
            )
        else:
            doubled = 2 * inp["value"]
            size = "big" if doubled >= 50 else "small"
            exp = Expected(
                "chain",
                name,
                inp,
                "SUCCEEDED",
                output={**inp, "work": {"unit": "main", "value": doubled}, "size": size},
            )
        exp.units = {("Work", "main"): None if fatal else inp["fail_times"]}
        out.append(exp)
    for i in range(8):
        name = f"fanout-{i:02d}"
        inp = {
            "value": rng.randint(0, 50),
            "fail_left": rng.choice([0, 1]),
            "fail_right": rng.choice([0, 1, 2]),
            "sleep": rng.choice(sleeps),
        }
        left, right = 2 * inp["value"], 2 * (inp["value"] + 100)
        exp = Expected(
            "fanout",
            name,
            inp,
            "SUCCEEDED",
            output={
                "sum": left + right,
                "branches": [{"unit": "left", "value": left}, {"right": right}, "rested"],
            },
        )
        exp.units = {("Left", "left"): inp["fail_left"], ("Right", "right"): inp["fail_right"]}
        out.append(exp)
    for i in range(8):
        name = f"each-{i:02d}"
        items = [
            {"n": rng.randint(1, 9), "fail_times": rng.choice([0, 0, 0, 1])} for _ in range(rng.randint(5, 8))
        ]
        inp = {"items": items, "sleep": rng.choice(sleeps)}
        results = [{"large": 2 * it["n"]} if 2 * it["n"] >= 10 else {"little": 2 * it["n"]} for it in items]
        exp = Expected("each", name, inp, "SUCCEEDED", output={**inp, "results": results})
        exp.units = {("Item", f"item-{k}"): it["fail_times"] for k, it in enumerate(items)}
        out.append(exp)
    return out


# -- the project and the dev process -------------------------------------------------------------


def make_project(tmp: Path) -> Path:
    """A copy of template.yaml whose functions live in this repository, plus CountingTaskFunction."""
    project = tmp / "project"
    project.mkdir()
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    functions = ROOT / "functions"
    text, n = re.subn(r"(?m)^(\s*CodeUri:\s*)functions/", lambda m: f"{m.group(1)}{functions}/", text)
    assert n > 10, "template.yaml has no CodeUri: functions/... entries to rewrite"
    counting = (
        "  CountingTaskFunction:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        f"      CodeUri: {COUNTING_TASK_DIR}/\n"
        "      Handler: app.handler\n"
        "      Timeout: 5\n"
        "\n"
    )
    text, n = re.subn(r"(?m)^Outputs:", lambda m: counting + m.group(0), text, count=1)
    assert n == 1, "template.yaml has no Outputs section to insert before"
    (project / "template.yaml").write_text(text, encoding="utf-8")
    return project


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dev:
    """`pilothouse dev` as a subprocess in its own process group, killed with SIGKILL at will."""

    def __init__(self, tmp: Path, project: Path, admin_key: str, calls_file: Path) -> None:
        self.tmp = tmp
        self.project = project
        self.admin_key = admin_key
        self.data_dir = tmp / "data"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PILOTHOUSE_")}
        self.env.update(
            PILOTHOUSE_ADMIN_KEY=admin_key,
            POWERTOOLS_LOG_LEVEL="WARNING",
            DURABILITY_CALLS_FILE=str(calls_file),
            PYTHONUNBUFFERED="1",
            # the project's own task function, which user workflows may call
            PILOTHOUSE_WORKFLOW_TASK_FUNCTIONS="CountingTaskFunction",
        )
        self.proc: subprocess.Popen | None = None
        self.groups: list[int] = []  # every process group started, for the final clean-up
        self.kills: list[tuple[int, float]] = []  # (pid, time.time()) of each SIGKILL
        self.runs = 0
        self.url = ""

    def start(self) -> None:
        assert self.proc is None
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.runs += 1
        log = open(self.tmp / f"dev-{self.runs}.log", "wb")  # noqa: SIM115 - the child owns it
        try:
            self.proc = subprocess.Popen(
                [
                    str(ROOT / ".venv/bin/pilothouse"),
                    "dev",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--data-dir",
                    str(self.data_dir),
                    "--project-dir",
                    str(self.project),
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()
        self.groups.append(self.proc.pid)

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"pilothouse dev exited with {self.proc.returncode}:\n{self.last_log()}")
            try:
                if httpx.get(self.url + "/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"pilothouse dev not healthy after {timeout}s:\n{self.last_log()}")

    def kill(self) -> None:
        assert self.proc is not None
        pid = self.proc.pid
        _killpg(pid)
        self.kills.append((pid, time.time()))
        self.proc.wait(timeout=10)
        self.proc = None

    def last_log(self) -> str:
        path = self.tmp / f"dev-{self.runs}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def errors(self) -> str:
        """The failures every run logged (function failures and exception lines), counted."""
        counts: dict[str, int] = defaultdict(int)
        for run in range(1, self.runs + 1):
            path = self.tmp / f"dev-{run}.log"
            for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
                if re.match(r"^(function \w+ failed|[\w.]*(Error|Exception)\b)", line):
                    counts[f"dev-{run}: {line.strip()[:200]}"] += 1
        return "\n".join(f"{n} x {line}" for line, n in counts.items()) or "(none)"

    def client(self) -> httpx.Client:
        auth = {"Authorization": f"Bearer {self.admin_key}"}
        return httpx.Client(base_url=self.url, headers=auth, timeout=30)

    def cleanup(self) -> None:
        for group in self.groups:
            _killpg(group)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
            self.proc = None


def _killpg(group: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)


@pytest.fixture
def dev(tmp_path):
    calls = tmp_path / "calls.jsonl"
    calls.touch()
    admin_key = f"ph_{secrets.token_hex(6)}_{secrets.token_hex(16)}"
    server = Dev(tmp_path, make_project(tmp_path), admin_key, calls)
    try:
        yield server
    finally:
        server.cleanup()


# -- checks --------------------------------------------------------------------------------------


def read_calls(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def full_history(client: httpx.Client, workflow: str, name: str) -> list[dict]:
    events: list[dict] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        r = client.get(f"/v1/workflows/{workflow}/executions/{name}/history", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        events.extend(body["events"])
        cursor = body.get("next_cursor")
        if not cursor:
            return events


def wait_finished(dev: Dev, plans: list[Expected], timeout: float) -> dict[str, dict]:
    """Describe every execution until none is RUNNING; return the final descriptions by name."""
    done: dict[str, dict] = {}
    last: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    with dev.client() as c:
        while time.monotonic() < deadline:
            for exp in plans:
                if exp.name in done:
                    continue
                r = c.get(f"/v1/workflows/{exp.workflow}/executions/{exp.name}")
                assert r.status_code == 200, r.text
                last[exp.name] = r.json()
                if last[exp.name]["status"] in TERMINAL:
                    done[exp.name] = last[exp.name]
            if len(done) == len(plans):
                return done
            time.sleep(0.3)
    stuck = {
        name: {k: d.get(k) for k in ("status", "step", "positions", "waiting_tasks")}
        for name, d in last.items()
        if name not in done
    }
    lines = "".join(f"\n  {name}: {json.dumps(v)}" for name, v in stuck.items())
    with (
        dev.client() as c
    ):  # the last events of each stuck execution, to tell a lost hand-off from a slow one
        for name in stuck:
            exp = next(e for e in plans if e.name == name)
            r = c.get(
                f"/v1/workflows/{exp.workflow}/executions/{name}/history",
                params={"reverse": "true", "limit": 12},
            )
            events = r.json().get("events", []) if r.status_code == 200 else r.text
            lines += f"\n  {name} last events: {json.dumps(events)[:3000]}"
    raise AssertionError(
        f"{len(stuck)} executions still RUNNING after {timeout}s:{lines}\n"
        f"--- failures logged by the dev runs ---\n{dev.errors()}"
    )


# -- the test ------------------------------------------------------------------------------------


def test_executions_survive_repeated_sigkill_of_the_dev_process(dev):
    """Given ~25 executions in flight, when `pilothouse dev` is SIGKILLed 4-6 times at random
    moments and restarted on the same data, then every execution ends exactly as its definition
    dictates, with a gapless history, and no task attempt runs twice."""
    rng = random.Random(SEED)
    began = time.monotonic()
    plans = plan(rng)

    dev.start()
    dev.wait_healthy()
    with dev.client() as c:
        for wf_name, definition in WORKFLOWS.items():
            r = c.post("/v1/workflows", json={"name": wf_name, "definition": definition})
            assert r.status_code == 201, r.text
        for exp in plans:
            body = {"name": exp.name, "input": exp.input}
            r = c.post(f"/v1/workflows/{exp.workflow}/executions", json=body)
            assert r.status_code == 201, r.text

    # Kill at random moments: mostly while work runs, sometimes while the restart is still starting
    # up (its first sweep included).
    for n in range(rng.randint(4, 6)):
        if n > 0:
            dev.start()
            if rng.random() < 0.25:
                time.sleep(rng.uniform(0.3, 1.0))
                dev.kill()
                continue
            dev.wait_healthy()
        time.sleep(rng.uniform(0.3, 2.0))
        dev.kill()

    dev.start()
    dev.wait_healthy()
    finals = wait_finished(dev, plans, FINISH_TIMEOUT)
    wall = time.monotonic() - began

    calls = read_calls(Path(dev.env["DURABILITY_CALLS_FILE"]))
    by_unit: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for call in calls:
        by_unit[(call["execution"], call["state"], call["unit"])].append(call)
    killed = {pid for pid, _ in dev.kills}

    problems: list[str] = []
    extra_calls = 0
    with dev.client() as c:
        for exp in plans:
            got = finals[exp.name]
            if (got["status"], got.get("error"), got.get("cause")) != (exp.status, exp.error, exp.cause):
                problems.append(
                    f"{exp.name}: ended {got['status']} {got.get('error')!r} "
                    f"{got.get('cause')!r}, expected {exp.status} {exp.error!r} {exp.cause!r}"
                )
            if exp.status == "SUCCEEDED" and got["output"] != exp.output:
                problems.append(f"{exp.name}: output {json.dumps(got['output'])} != {json.dumps(exp.output)}")

            events = full_history(c, exp.workflow, exp.name)
            ids = [e["id"] for e in events]
            if ids != list(range(1, len(events) + 1)):
                problems.append(f"{exp.name}: history ids are not 1..{len(events)}: {ids}")
            final_type = "ExecutionSucceeded" if exp.status == "SUCCEEDED" else "ExecutionFailed"
            if not events or events[-1]["type"] != final_type:
                problems.append(f"{exp.name}: history ends with {events[-1]['type'] if events else None}")
            types = [e["type"] for e in events]
            execution_events = [t for t in types if t.startswith("Execution")]
            if execution_events != ["ExecutionStarted", final_type]:
                problems.append(f"{exp.name}: execution events {execution_events}")
            scheduled = types.count("TaskScheduled")
            succeeded_units = sum(1 for fails in exp.units.values() if fails is not None)
            if types.count("TaskSucceeded") != succeeded_units:
                problems.append(
                    f"{exp.name}: {types.count('TaskSucceeded')} TaskSucceeded events for "
                    f"{succeeded_units} tasks"
                )

            ran = {(state, unit) for (ex, state, unit) in by_unit if ex == exp.name}
            if ran != set(exp.units):
                problems.append(f"{exp.name}: tasks called {sorted(ran)}, expected {sorted(exp.units)}")
            total_calls = 0
            for (state, unit), fails in exp.units.items():
                unit_calls = by_unit.get((exp.name, state, unit), [])
                total_calls += len(unit_calls)
                attempts = [int(call["attempt"]) for call in unit_calls]
                hit_by = len({call["pid"] for call in unit_calls} & killed)
                planned = 1 + (fails or 0)  # a Fatal task: one call
                extra_calls += max(0, len(unit_calls) - planned)
                where = f"{exp.name}/{state}/{unit}"
                if attempts != sorted(set(attempts)):
                    problems.append(f"{where}: attempts not strictly increasing (one ran twice?): {attempts}")
                if len(unit_calls) > 1 + MAX_ATTEMPTS:
                    problems.append(f"{where}: {len(unit_calls)} calls > 1 + MaxAttempts ({MAX_ATTEMPTS})")
                if len(unit_calls) > planned + hit_by:
                    problems.append(
                        f"{where}: {len(unit_calls)} calls, but {planned} planned and only "
                        f"{hit_by} crashes hit it: {unit_calls}"
                    )
                if fails is not None and not any(a >= fails for a in attempts):
                    problems.append(f"{where}: no call was meant to succeed ({attempts}, fails {fails})")
            if total_calls > scheduled:
                problems.append(f"{exp.name}: {total_calls} calls for {scheduled} TaskScheduled events")

    summary = (
        f"durability (seed {SEED}): {len(plans)} executions, {len(dev.kills)} SIGKILLs, "
        f"{dev.runs} dev starts, {len(calls)} task calls ({extra_calls} extra because of crashes), "
        f"wall {wall:.1f}s"
    )
    print(summary)
    assert not problems, summary + "\n" + "\n".join(problems)


# -- a deterministic reproduction of one way the run above can lose a task -------------------------


class _Double:
    """A test invoker: every function doubles its payload."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def timeout_of(self, name: str) -> float:
        return 5.0

    def invoke(self, name: str, payload: Any) -> Any:
        self.calls.append(payload)
        return 2 * payload


@pytest.fixture
def task_functions(env, monkeypatch):
    """``double`` is a task function of this deployment, which user workflows may call."""
    monkeypatch.setenv("PILOTHOUSE_WORKFLOW_TASK_FUNCTIONS", "double")


@pytest.fixture
def services(task_functions, env, clock):
    from pilothouse.settings import get_settings
    from pilothouse.wiring import Services, register_services

    s = Services(get_settings(), clock, invoker=_Double())
    register_services(s)
    return s


def test_a_task_whose_message_was_never_sent_is_not_lost_when_another_task_lapses(
    api, services, clock, pool, cloud
):
    """Given a Map running two tasks, where worker A took the lease of task 1 and died, and worker B
    completed task 2, wrote the step that starts task 3 and died before sending task 3's message,
    when the control plane comes back (sweep with stale_after=0, as `pilothouse dev` does) and runs,
    then task 3 still runs and the execution succeeds."""
    from pilothouse.services import execution_steps, executions
    from tests.support.controlplane import drain

    flow = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 2,
                "End": True,
                "ItemProcessor": {
                    "StartAt": "T",
                    "States": {
                        "T": {
                            "Type": "Task",
                            "Resource": "double",
                            "End": True,
                            "Retry": [
                                {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 3}
                            ],
                        }
                    },
                },
            }
        },
    }
    assert api.post("/v1/workflows", {"name": "flow", "definition": flow})[0] == 201
    assert api.post("/v1/workflows/flow/executions", {"name": "m", "input": {"items": [1, 2, 3]}})[0] == 201
    s = services.settings
    drain(services, pool, cloud, [s.executions_queue])
    first, second = services.queue.receive(s.tasks_queue, max_messages=10)
    task_1 = json.loads(first.body)["task_id"]
    assert execution_steps.lease(services, "flow", "m", task_1) is not None  # worker A ... dies
    send = services.queue.send
    from pilothouse.repositories.workflows import RECORD_SK, execution_pk

    record = lambda: services.store.get(execution_pk("flow", "m"), RECORD_SK).data  # noqa: E731
    services.queue.send = lambda *a, **kw: None  # worker B: its sends never happen (it dies)...
    try:
        assert execution_steps.handle_task_message(services, second.body) == "applied"
        for _ in range(5):  # ...after the write of the step that starts task 3
            if record()["outbox"]:
                break
            execution_steps.apply_step(services, "flow", "m", None)
    finally:
        services.queue.send = send
    [task_3] = record()["outbox"]  # kept in the record for the sweep to re-send...
    assert task_3 not in (task_1, json.loads(second.body)["task_id"])
    for msg in (first, second):  # their receipts die with the workers (invisible for 900 s)
        services.queue.delete(s.tasks_queue, msg.receipt_handle)

    clock.advance(5 + execution_steps.LEASE_MARGIN_SECONDS + 1)  # task 1's lease lapses
    execution_steps.sweep(services, stale_after=0)  # the restart: fails task 1 (Retry), ...
    assert record()["outbox"] == []  # ...but that step forgot task 3
    for _ in range(5):
        drain(services, pool, cloud)
        clock.advance(2)
        execution_steps.sweep(services, stale_after=0)
    drain(services, pool, cloud)
    done = executions.describe(services, "flow", "m")
    assert done["status"] == "SUCCEEDED", done["waiting_tasks"]
    assert done["output"] == [2, 4, 6]
