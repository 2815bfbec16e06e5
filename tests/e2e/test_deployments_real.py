"""End to end: the deployment manager on real local processes.

The control plane is :class:`DevServer` in this process (gateway, worker, scheduler, functions),
driven over real HTTP with an admin key seeded via ``PILOTHOUSE_ADMIN_KEY``; the example services
(``examples/counter``, ``examples/greeter``) run as real processes behind the local provider's
router. A background traffic generator hits the component's URL so that analyses have data and so
that what clients see during a deployment can be checked. The same scenarios run in-process with a
fake provider in ``tests/integration/test_deployments.py``; here they run for real, with short
pauses and analysis windows of a few seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from pilothouse.embedded.dev import DevServer
from tests.support import processes

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MARKER_VAR = "PILOTHOUSE_E2E_DEPLOYMENTS_RUN"
ADMIN_KEY = f"ph_{uuid.uuid4().hex[:12]}_e2e-deployments-admin-key-0000"
FINAL = {"succeeded", "rolled_back", "failed", "aborted"}
TRANSITIONAL = {"Deploying", "Updating", "Scaling", "Stopping"}
ANALYSIS = {"measurements": 1, "window_seconds": 3, "max_error_rate": 0.05, "min_requests": 5}


# -- processes left behind -------------------------------------------------------------------------


def marked_pids(marker: str) -> list[int]:
    return processes.marked_pids(MARKER_VAR, marker)


def kill_marked(marker: str) -> list[int]:
    return processes.kill_marked(MARKER_VAR, marker)


# -- the control plane -----------------------------------------------------------------------------


class Plane:
    """An in-process control plane on a fixed data dir: start, stop (gracefully), start again."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.server: DevServer | None = None
        self.clients: list[httpx.Client] = []

    def start(self) -> Plane:
        assert self.server is None, "already running"
        self.server = DevServer("127.0.0.1", 0, self.data_dir, ROOT)
        self.server.start()
        self.api = httpx.Client(
            base_url=self.server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
        )
        self.clients.append(self.api)
        return self

    def stop(self) -> None:
        if self.server is not None:
            server, self.server = self.server, None
            server.stop()

    # -- components

    def register(self, example: str, name: str, **over: Any) -> dict[str, Any]:
        spec = yaml.safe_load((ROOT / f"examples/{example}/component.yaml").read_text())
        spec["name"] = name
        spec["target"]["cwd"] = str(ROOT)
        spec["target"]["grace_seconds"] = 2
        spec["health_check"] = {"path": "/health", "timeout_seconds": 3}
        for key, value in over.items():
            spec[key] = (
                {**spec[key], **value}
                if isinstance(value, dict) and isinstance(spec.get(key), dict)
                else value
            )
        r = self.api.post("/v1/components", json=spec)
        assert r.status_code == 201, r.text
        return r.json()

    def running(self, example: str, name: str, replicas: int = 1, **over: Any) -> dict[str, Any]:
        """A registered, deployed component Running on its spec's version (1.0.0)."""
        self.register(example, name, scaling={"min": 1, "max": 4, "replicas": replicas}, **over)
        r = self.api.post(f"/v1/components/{name}/deploy", json={})
        assert r.status_code == 202, r.text
        comp = self.at_rest(name)
        assert (comp["state"], comp["version"], comp["replicas"]) == ("Running", "1.0.0", replicas), comp
        return comp

    def component(self, name: str) -> dict[str, Any]:
        r = self.api.get(f"/v1/components/{name}")
        assert r.status_code == 200, r.text
        return r.json()

    def at_rest(self, name: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            comp = self.component(name)
            if comp["state"] not in TRANSITIONAL:
                return comp
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} still {comp['state']} after {timeout}s: {comp}")
            time.sleep(0.1)

    # -- deployments

    def update(self, name: str, body: dict[str, Any]) -> str:
        """Start an update; the id of the deployment it became."""
        r = self.api.post(f"/v1/components/{name}/update", json=body)
        assert r.status_code == 202, r.text
        dep_id = r.json()["operation"]["id"]
        deadline = time.monotonic() + 10  # the worker creates the record from the queued operation
        while self.api.get(f"/v1/deployments/{dep_id}").status_code == 404:
            assert time.monotonic() < deadline, f"no deployment {dep_id} 10 s after the update"
            time.sleep(0.05)
        return dep_id

    def deployment(self, dep_id: str) -> dict[str, Any]:
        r = self.api.get(f"/v1/deployments/{dep_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def wait_deployment(self, dep_id: str, until, timeout: float = 30.0, what: str = "") -> dict[str, Any]:
        """The deployment once ``until(dep)`` holds (a set of statuses or a predicate)."""
        check = until if callable(until) else (lambda d: d["status"] in until)
        deadline = time.monotonic() + timeout
        while True:
            dep = self.deployment(dep_id)
            if check(dep):
                return dep
            if dep["status"] in FINAL or time.monotonic() > deadline:
                raise AssertionError(f"deployment never got {what or until}: {summary(dep)}")
            time.sleep(0.1)

    def finished(self, dep_id: str, timeout: float = 40.0) -> dict[str, Any]:
        return self.wait_deployment(dep_id, FINAL, timeout)

    def control(self, dep_id: str, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.api.post(f"/v1/deployments/{dep_id}/{action}", json=body or {})
        assert r.status_code == 200, f"{action}: {r.status_code} {r.text}"
        return r.json()

    def event_types(self, dep_id: str) -> list[str]:
        r = self.api.get(f"/v1/deployments/{dep_id}/events", params={"limit": 500})
        assert r.status_code == 200, r.text
        return [e["type"] for e in r.json()["items"]]


def summary(dep: dict[str, Any]) -> dict[str, Any]:
    """What to show when a deployment is not where a test expected it."""
    return {k: dep.get(k) for k in ("status", "waiting_for", "weights", "error", "current_step")} | {
        "steps": [(s["kind"], s["status"]) for s in dep.get("steps", [])],
        "analysis": [
            (m["verdict"], m["reasons"], m["metrics"].get("requests")) for m in dep.get("analysis", [])
        ],
    }


@pytest.fixture
def plane(env, monkeypatch) -> Iterator[Plane]:
    """A control plane (not yet started) with its data under tmp_path; at the end it is stopped and
    every process of this run that is still alive is killed (and the test fails if there was one)."""
    marker = uuid.uuid4().hex
    monkeypatch.setenv("PILOTHOUSE_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("PILOTHOUSE_PROJECT_DIR", str(ROOT))
    monkeypatch.setenv(MARKER_VAR, marker)
    monkeypatch.setenv("PILOTHOUSE_REPLICA_ENV_PASSTHROUGH", MARKER_VAR)  # replicas carry the marker too
    p = Plane(env / "data")
    try:
        yield p
    finally:
        for c in p.clients:
            c.close()
        p.stop()
        left = kill_marked(marker)
    assert not left, f"example processes outlived the control plane: {left}"


@pytest.fixture
def cp(plane: Plane) -> Plane:
    return plane.start()


# -- traffic ---------------------------------------------------------------------------------------


@dataclass
class Hit:
    at: float
    status: int | None  # None: no HTTP answer (connection refused, reset, timeout)
    version: str | None
    error: str = ""


@dataclass
class Traffic:
    """GETs to a component's URL from a background thread, every ``every`` seconds, for at most
    ``seconds`` and ``limit`` requests (127.0.0.1 only)."""

    url: str
    every: float = 0.02
    seconds: float = 40.0
    limit: int = 2500
    hits: list[Hit] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert httpx.URL(self.url).host == "127.0.0.1", self.url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._lock = threading.Lock()

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        with httpx.Client(timeout=5) as client:
            for _ in range(self.limit):
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                try:
                    r = client.get(self.url)
                    try:
                        version = r.json().get("version")
                    except ValueError:
                        version = None
                    hit = Hit(time.monotonic(), r.status_code, version)
                except httpx.HTTPError as exc:
                    hit = Hit(time.monotonic(), None, None, f"{type(exc).__name__}: {exc}")
                with self._lock:
                    self.hits.append(hit)
                self._stop.wait(self.every)

    def mark(self) -> float:
        return time.monotonic()

    def since(self, t: float) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.at >= t]

    def wait_for(self, count: int, since: float, timeout: float = 10.0) -> list[Hit]:
        """At least ``count`` answers after ``since``."""
        deadline = time.monotonic() + timeout
        while len(hits := self.since(since)) < count:
            assert time.monotonic() < deadline, f"only {len(hits)} requests in {timeout}s"
            time.sleep(0.05)
        return hits


def versions(hits: list[Hit]) -> Counter:
    return Counter(h.version for h in hits)


def failures(hits: list[Hit]) -> list[Hit]:
    return [h for h in hits if h.status is None or h.status >= 500]


def only_version(url: str, version: str, n: int = 6) -> None:
    """``n`` fresh requests to ``url`` all answer 200 from ``version``."""
    seen = []
    for _ in range(n):
        r = httpx.get(url, timeout=5)
        assert r.status_code == 200, r.text
        seen.append(r.json()["version"])
    assert set(seen) == {version}, seen


def split(dep: dict[str, Any]) -> list[int]:
    return sorted(dep["weights"].values())


# -- 1. every strategy on real processes -----------------------------------------------------------


def test_all_at_once_recreates_on_the_same_url(cp: Plane):
    url = cp.running("greeter", "g-recreate")["url"]
    dep_id = cp.update("g-recreate", {"version": "2.0.0", "strategy": "all-at-once"})
    dep = cp.finished(dep_id)
    assert dep["status"] == "succeeded", summary(dep)
    assert [s["kind"] for s in dep["steps"]] == ["replicas", "prepare", "set_weight", "health"]
    assert all(s["status"] == "succeeded" for s in dep["steps"]), summary(dep)
    comp = cp.at_rest("g-recreate")
    assert (comp["state"], comp["version"], comp["url"]) == ("Running", "2.0.0", url)
    only_version(url, "2.0.0")
    assert httpx.get(url).json()["message"] == "Hello, World!"


def test_rolling_three_replicas_one_by_one_without_errors(cp: Plane):
    """Given counter on 3 replicas, a rolling update with batch 1 replaces them one at a time;
    clients sending requests all along never see an error, and at the end 3 processes of 2.0.0
    answer on the same URL."""
    url = cp.running("counter", "c-rolling", replicas=3)["url"]
    old_pids = {httpx.get(url).json()["pid"] for _ in range(9)}
    assert len(old_pids) == 3
    with Traffic(url, every=0.01) as traffic:
        start = traffic.wait_for(20, 0)[0].at
        dep_id = cp.update(
            "c-rolling",
            {
                "version": "2.0.0",
                "strategy": {
                    "type": "rolling",
                    "batch_size": 1,
                    "analysis": {**ANALYSIS, "window_seconds": 2},
                },
            },
        )
        dep = cp.finished(dep_id)
        done = traffic.mark()
        traffic.wait_for(20, done)
    assert dep["status"] == "succeeded", summary(dep)
    kinds = [s["kind"] for s in dep["steps"]]
    assert kinds.count("health") == 3 and kinds[-1] == "analysis", kinds
    seen = traffic.since(start)
    assert not failures(seen), failures(seen)[:5]
    assert {"1.0.0", "2.0.0"} <= set(versions(seen)), versions(seen)
    assert set(versions(traffic.since(done))) == {"2.0.0"}
    comp = cp.at_rest("c-rolling")
    assert (comp["state"], comp["version"], comp["url"], comp["replicas"]) == ("Running", "2.0.0", url, 3)
    new_pids = {httpx.get(url).json()["pid"] for _ in range(9)}
    assert len(new_pids) == 3 and not new_pids & old_pids


def test_blue_green_switches_at_once_and_keeps_the_old_one_briefly(cp: Plane):
    url = cp.running("greeter", "g-bluegreen")["url"]
    old_pid = httpx.get(url).json()["pid"]
    with Traffic(url) as traffic:
        dep_id = cp.update(
            "g-bluegreen", {"version": "2.0.0", "strategy": {"type": "blue-green", "keep_old_seconds": 1}}
        )
        # during the keep-old pause the new one takes everything while the old one still runs
        dep = cp.wait_deployment(
            dep_id, lambda d: d["waiting_for"] == "pause" or d["status"] in FINAL, what="the keep-old pause"
        )
        assert dep["status"] == "in_progress" and split(dep) == [0, 100], summary(dep)
        assert os.path.exists(f"/proc/{old_pid}")
        dep = cp.finished(dep_id)
    assert dep["status"] == "succeeded", summary(dep)
    assert [s["kind"] for s in dep["steps"]] == ["prepare", "health", "set_weight", "pause"]
    assert not failures(traffic.hits), failures(traffic.hits)[:5]
    comp = cp.at_rest("g-bluegreen")
    assert (comp["state"], comp["version"], comp["url"]) == ("Running", "2.0.0", url)
    only_version(url, "2.0.0")


def test_canary_with_a_bake_and_an_analysis_of_real_traffic(cp: Plane):
    """Given counter 1.0.0 under traffic, a custom canary (20 %, bake 2 s, analysis, 100 %) sends
    about a fifth of the requests to 2.0.0 during the bake, measures them (requests counted by the
    router, no errors) and then makes 2.0.0 the only version."""
    url = cp.running("counter", "c-canary")["url"]
    steps = [
        {"kind": "set_weight", "weight": 20},
        {"kind": "pause", "seconds": 2},
        {"kind": "analysis", "analysis": ANALYSIS},
        {"kind": "set_weight", "weight": 100},
    ]
    with Traffic(url) as traffic:
        dep_id = cp.update("c-canary", {"version": "2.0.0", "strategy": {"type": "custom", "steps": steps}})
        dep = cp.wait_deployment(dep_id, lambda d: d["waiting_for"] == "pause", what="the bake")
        assert split(dep) == [20, 80], summary(dep)
        baking = traffic.mark()
        dep = cp.finished(dep_id)
        during = [h for h in traffic.since(baking) if h.at < traffic.mark() - 0.5]
    assert dep["status"] == "succeeded", summary(dep)
    seen = versions(during)
    assert seen["2.0.0"] and seen["1.0.0"] > seen["2.0.0"], seen
    [measurement] = dep["analysis"]
    assert measurement["verdict"] == "pass", measurement
    assert (
        measurement["metrics"]["requests"] >= ANALYSIS["min_requests"]
        and measurement["metrics"]["errors"] == 0
    )
    assert measurement["health"]["healthy"] is True
    assert not failures(traffic.hits), failures(traffic.hits)[:5]
    comp = cp.at_rest("c-canary")
    assert (comp["state"], comp["version"], comp["url"]) == ("Running", "2.0.0", url)
    only_version(url, "2.0.0")
    types = cp.event_types(dep_id)
    assert types[0] == "created" and types[-1] == "succeeded" and "analysis.pass" in types, types


# -- 2. automatic rollback -------------------------------------------------------------------------


def test_a_candidate_failing_its_health_check_is_rolled_back(cp: Plane):
    url = cp.running("counter", "c-unhealthy")["url"]
    with Traffic(url) as traffic:
        dep_id = cp.update("c-unhealthy", {"version": "2.1.0-unhealthy", "strategy": "blue-green"})
        dep = cp.finished(dep_id)
    assert dep["status"] == "rolled_back", summary(dep)
    assert "health" in dep["error"].lower(), dep["error"]
    assert dep["steps"][0]["kind"] == "prepare" and dep["steps"][0]["status"] == "failed"
    assert not failures(traffic.hits) and set(versions(traffic.hits)) == {"1.0.0"}, versions(traffic.hits)
    comp = cp.at_rest("c-unhealthy")
    assert (comp["state"], comp["version"], comp["url"]) == ("Running", "1.0.0", url)
    assert comp["last_error"] and comp["last_error"]["reason"]
    only_version(url, "1.0.0")


def test_a_version_that_crashes_at_start_is_rolled_back_with_its_output(cp: Plane):
    url = cp.running("greeter", "g-broken")["url"]
    dep_id = cp.update(
        "g-broken",
        {"version": "3.0.0-broken", "strategy": {"type": "canary", "percentage": 10, "interval_seconds": 1}},
    )
    dep = cp.finished(dep_id)
    assert dep["status"] == "rolled_back", summary(dep)
    assert "crashing on purpose" in dep["error"], dep["error"]
    comp = cp.at_rest("g-broken")
    assert (comp["state"], comp["version"], comp["url"]) == ("Running", "1.0.0", url)
    only_version(url, "1.0.0")


def test_a_high_error_rate_under_traffic_fails_the_analysis_and_rolls_back(cp: Plane):
    """Given counter 1.0.0 under traffic, a canary of 2.2.0-flaky (healthy, but 60 % of its answers
    are 500) at 50 %: the analysis of real traffic fails on the error rate, the deployment is
    rolled back, and afterwards every request is answered by 1.0.0 without an error."""
    url = cp.running("counter", "c-flaky")["url"]
    steps = [
        {"kind": "set_weight", "weight": 50},
        {"kind": "pause", "seconds": 2},
        {"kind": "analysis", "analysis": ANALYSIS},
        {"kind": "set_weight", "weight": 100},
    ]
    with Traffic(url) as traffic:
        dep_id = cp.update(
            "c-flaky", {"version": "2.2.0-flaky", "strategy": {"type": "custom", "steps": steps}}
        )
        dep = cp.finished(dep_id)
        after = traffic.mark()
        traffic.wait_for(15, after)
    assert dep["status"] == "rolled_back", summary(dep)
    [measurement] = dep["analysis"]
    assert measurement["verdict"] == "fail" and measurement["counted_as"] == "fail", measurement
    assert any("error rate" in r for r in measurement["reasons"]), measurement["reasons"]
    assert measurement["metrics"]["requests"] >= ANALYSIS["min_requests"]
    assert measurement["metrics"]["error_rate"] > 0.3, measurement["metrics"]
    assert "AnalysisFailed" in dep["error"] and "error rate" in dep["error"], dep["error"]
    analysis_step = dep["steps"][measurement["step"]]
    assert (analysis_step["kind"], analysis_step["status"]) == ("analysis", "failed")
    assert "2.2.0-flaky" in versions(traffic.hits)  # the flaky one did serve, and failed
    assert any(h.status == 500 for h in traffic.hits)
    late = traffic.since(after + 0.3)
    assert late and not failures(late) and set(versions(late)) == {"1.0.0"}, versions(late)
    comp = cp.at_rest("c-flaky")
    assert (comp["state"], comp["version"], comp["url"]) == ("Running", "1.0.0", url)
    types = cp.event_types(dep_id)
    assert "analysis.fail" in types and types[-1] == "rolled_back", types


# -- 3. approval gate ------------------------------------------------------------------------------


def test_blue_green_waits_for_approval_then_switches(cp: Plane):
    """Given a blue-green update with approval, it waits in awaiting_approval: for seconds nothing
    changes and every request still reaches 1.0.0 (while 2.0.0 already runs, healthy, beside it);
    once approved it switches and succeeds."""
    url = cp.running("greeter", "g-approval")["url"]
    with Traffic(url) as traffic:
        dep_id = cp.update(
            "g-approval", {"version": "2.0.0", "strategy": {"type": "blue-green", "approval": True}}
        )
        waiting = cp.wait_deployment(dep_id, {"awaiting_approval"})
        assert waiting["waiting_for"] == "approval" and split(waiting) == [0, 100], summary(waiting)
        assert [s["status"] for s in waiting["steps"][:2]] == ["succeeded", "succeeded"]  # prepared, healthy
        t0 = traffic.mark()
        time.sleep(2.5)
        held = cp.deployment(dep_id)
        for key in ("status", "waiting_for", "weights", "current_step", "steps"):
            assert held[key] == waiting[key], key
        assert cp.component("g-approval")["state"] == "Updating"
        hits = traffic.since(t0)
        assert len(hits) > 20 and set(versions(hits)) == {"1.0.0"}, versions(hits)
        approved = cp.control(dep_id, "approve", {"comment": "looks good"})
        assert approved["approvals"][0]["decision"] == "approved"
        dep = cp.finished(dep_id)
    assert dep["status"] == "succeeded", summary(dep)
    assert not failures(traffic.hits), failures(traffic.hits)[:5]
    comp = cp.at_rest("g-approval")
    assert (comp["state"], comp["version"], comp["url"]) == ("Running", "2.0.0", url)
    only_version(url, "2.0.0")


# -- 4. controls mid-way ---------------------------------------------------------------------------

UNTIL_PROMOTED = [
    {"kind": "set_weight", "weight": 30},
    {"kind": "pause"},
    {"kind": "set_weight", "weight": 100},
]


def test_promote_ends_a_pause_without_seconds(cp: Plane):
    url = cp.running("counter", "c-promote")["url"]
    dep_id = cp.update(
        "c-promote", {"version": "2.0.0", "strategy": {"type": "custom", "steps": UNTIL_PROMOTED}}
    )
    dep = cp.wait_deployment(dep_id, lambda d: d["waiting_for"] == "pause", what="the pause")
    assert dep["status"] == "paused" and split(dep) == [30, 70], summary(dep)
    time.sleep(1.5)
    assert cp.deployment(dep_id)["status"] == "paused"  # no timer ends it
    seen = Counter(httpx.get(url).json()["version"] for _ in range(20))
    assert seen["2.0.0"] and seen["1.0.0"], seen
    cp.control(dep_id, "promote")
    dep = cp.finished(dep_id)
    assert dep["status"] == "succeeded", summary(dep)
    assert "promoted" in cp.event_types(dep_id)
    comp = cp.at_rest("c-promote")
    assert (comp["state"], comp["version"], comp["url"]) == ("Running", "2.0.0", url)
    only_version(url, "2.0.0")


def test_pause_holds_the_weights_and_resume_goes_on(cp: Plane):
    """Given a canary baking 2 s at 25 %, a pause request makes it stop before its next step: it
    stays paused at 25 % well past the bake (and traffic keeps being split), then resume finishes it."""
    url = cp.running("counter", "c-pause")["url"]
    steps = [
        {"kind": "set_weight", "weight": 25},
        {"kind": "pause", "seconds": 2},
        {"kind": "set_weight", "weight": 60},
        {"kind": "pause", "seconds": 1},
    ]
    dep_id = cp.update("c-pause", {"version": "2.0.0", "strategy": {"type": "custom", "steps": steps}})
    cp.wait_deployment(dep_id, lambda d: d["waiting_for"] == "pause", what="the bake")
    assert cp.control(dep_id, "pause")["paused"] is True
    dep = cp.wait_deployment(dep_id, lambda d: d["waiting_for"] == "gate", timeout=10, what="the gate")
    assert dep["status"] == "paused" and split(dep) == [25, 75], summary(dep)
    with Traffic(url) as traffic:
        time.sleep(2)
        held = cp.deployment(dep_id)
        assert (held["status"], held["weights"], held["current_step"]) == (
            "paused",
            dep["weights"],
            dep["current_step"],
        ), summary(held)
    seen = versions(traffic.hits)
    assert seen["2.0.0"] and seen["1.0.0"] > seen["2.0.0"] and not failures(traffic.hits), seen
    resumed = cp.control(dep_id, "resume")
    assert resumed["paused"] is False and resumed["status"] == "in_progress"
    dep = cp.finished(dep_id)
    assert dep["status"] == "succeeded", summary(dep)
    comp = cp.at_rest("c-pause")
    assert (comp["state"], comp["version"], comp["url"]) == ("Running", "2.0.0", url)
    only_version(url, "2.0.0")


def test_abort_during_a_pause_goes_back_to_the_old_version(cp: Plane):
    url = cp.running("counter", "c-abort")["url"]
    dep_id = cp.update(
        "c-abort", {"version": "2.0.0", "strategy": {"type": "custom", "steps": UNTIL_PROMOTED}}
    )
    cp.wait_deployment(dep_id, lambda d: d["waiting_for"] == "pause", what="the pause")
    cp.control(dep_id, "abort", {"reason": "smells"})
    dep = cp.finished(dep_id)
    assert dep["status"] == "aborted", summary(dep)
    assert dep["abort_requested"]["reason"] == "smells"
    comp = cp.at_rest("c-abort")
    assert (comp["state"], comp["version"], comp["url"]) == ("Running", "1.0.0", url)
    only_version(url, "1.0.0", n=10)
    r = cp.api.post(f"/v1/deployments/{dep_id}/resume", json={})
    assert r.status_code == 409, r.text


def test_break_glass_rollback_of_the_component_mid_way(cp: Plane):
    url = cp.running("counter", "c-glass")["url"]
    dep_id = cp.update(
        "c-glass", {"version": "2.0.0", "strategy": {"type": "custom", "steps": UNTIL_PROMOTED}}
    )
    cp.wait_deployment(dep_id, lambda d: d["waiting_for"] == "pause", what="the pause")
    r = cp.api.post("/v1/components/c-glass/rollback", json={})
    assert r.status_code == 202, r.text
    assert r.json()["state"] == "Updating"
    dep = cp.finished(dep_id)
    assert dep["status"] == "rolled_back", summary(dep)
    assert dep["abort_requested"]["break_glass"] is True
    comp = cp.at_rest("c-glass")
    assert (comp["state"], comp["version"], comp["url"]) == ("Running", "1.0.0", url)
    only_version(url, "1.0.0", n=10)
    assert "rollback.break_glass" in cp.event_types(dep_id)


# -- 5. freezes ------------------------------------------------------------------------------------


def test_a_freeze_refuses_updates_with_its_reason_until_lifted(cp: Plane):
    url = cp.running("greeter", "g-freeze")["url"]
    r = cp.api.post(
        "/v1/freezes", json={"scope": "environment", "target": "development", "reason": "release weekend"}
    )
    assert r.status_code == 201, r.text
    r = cp.api.post("/v1/components/g-freeze/update", json={"version": "2.0.0"})
    assert r.status_code == 409 and "release weekend" in r.json()["detail"], r.text
    assert cp.component("g-freeze")["state"] == "Running"
    only_version(url, "1.0.0")
    assert cp.api.delete("/v1/freezes/environment/development").status_code == 204
    dep_id = cp.update("g-freeze", {"version": "2.0.0"})
    assert cp.finished(dep_id)["status"] == "succeeded"
    only_version(url, "2.0.0")


# -- 6. the control plane stops in the middle ------------------------------------------------------


def test_a_canary_survives_a_control_plane_restart_during_its_bake(plane: Plane):
    """Given a canary baking 3 s at 40 % under traffic, when the control plane is stopped during the
    bake (its processes stop with it) and started again on the same data dir, then the deployment
    picks up where it was: both revisions come back on the same URL, the analysis measures the
    traffic after the restart, and it ends succeeded with the component Running on 2.0.0."""
    cp = plane.start()
    url = cp.running("counter", "c-restart")["url"]
    # the router's counts do not survive the restart: measure twice, so that one measurement
    # surely sees traffic from after it
    analysis = {**ANALYSIS, "measurements": 2, "interval_seconds": 1}
    steps = [
        {"kind": "set_weight", "weight": 40},
        {"kind": "pause", "seconds": 3},
        {"kind": "analysis", "analysis": analysis},
        {"kind": "set_weight", "weight": 100},
    ]
    with Traffic(url, seconds=60) as traffic:
        dep_id = cp.update("c-restart", {"version": "2.0.0", "strategy": {"type": "custom", "steps": steps}})
        dep = cp.wait_deployment(dep_id, lambda d: d["waiting_for"] == "pause", what="the bake")
        assert split(dep) == [40, 60]
        cp.stop()
        stopped = traffic.mark()
        time.sleep(0.5)
        down = traffic.since(stopped + 0.2)
        assert down and all(h.status is None for h in down), down[:3]  # nothing answers while it is down
        cp.start()
        restarted = traffic.mark()
        mid = cp.deployment(dep_id)
        assert mid["status"] not in FINAL or mid["status"] == "succeeded", summary(mid)
        dep = cp.finished(dep_id)
        after = traffic.mark()
        traffic.wait_for(10, after)
    assert dep["status"] == "succeeded", summary(dep)
    back = traffic.since(restarted)
    rate = len([h for h in back if h.at < after]) / (after - restarted)
    assert [m["counted_as"] for m in dep["analysis"]] == ["pass", "pass"], summary(dep)
    last = dep["analysis"][-1]
    assert last["verdict"] == "pass" and last["metrics"]["requests"] >= ANALYSIS["min_requests"], (
        summary(dep),
        f"{rate:.1f} requests/s after the restart",
    )
    assert {"1.0.0", "2.0.0"} <= set(versions(back)), versions(back)  # both revisions were restored
    assert set(versions(traffic.since(after + 0.3))) == {"2.0.0"}
    comp = cp.at_rest("c-restart")
    assert (comp["state"], comp["version"], comp["url"]) == ("Running", "2.0.0", url)
    only_version(url, "2.0.0")
    assert cp.event_types(dep_id)[-1] == "succeeded"


class DevSubprocess:
    """``pilothouse dev`` as a subprocess in its own session, on a fixed port and data dir."""

    def __init__(self, data_dir: Path, log_dir: Path, marker: str) -> None:
        with contextlib.closing(__import__("socket").socket()) as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir, self.log_dir, self.marker = data_dir, log_dir, marker
        self.proc: Any = None
        self.starts = 0

    def start(self, timeout: float = 30.0) -> httpx.Client:
        import subprocess

        self.starts += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PILOTHOUSE_", "PYTEST_"))}
        env.update(
            PILOTHOUSE_ADMIN_KEY=ADMIN_KEY,
            POWERTOOLS_LOG_LEVEL="WARNING",
            NO_COLOR="1",
            PILOTHOUSE_REPLICA_ENV_PASSTHROUGH=MARKER_VAR,  # replicas carry the marker too
            **{MARKER_VAR: self.marker},
        )
        self.log_path = self.log_dir / f"dev-{self.starts}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    str(ROOT / ".venv/bin/pilothouse"),
                    "dev",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                    "--project-dir",
                    str(ROOT),
                ],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_path.read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/v1/health", timeout=1).status_code == 200:
                    return httpx.Client(
                        base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
                    )
            time.sleep(0.1)
        raise AssertionError(f"pilothouse dev not up in {timeout}s:\n{self.log_path.read_text()}")

    def interrupt(self, timeout: float = 15.0) -> int:
        """Ctrl-C (SIGINT to its process group); the exit code."""
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL to the control plane's process group (the example processes, in sessions of their
        own, are left running, as after a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def test_a_canary_killed_with_its_control_plane_ends_right_after_a_restart(env, tmp_path, monkeypatch):
    """Given ``pilothouse dev`` as a subprocess running a canary of 2.2.0-flaky (50 %, bake 3 s, an
    analysis of the error rate) under traffic, when the control plane is SIGKILLed during the bake
    and the example processes it left are killed too, then ``pilothouse dev`` started again on the
    same data dir brings both revisions back on the same URL, the analysis of the traffic after the
    restart fails on the error rate, and the deployment is rolled back: Running on 1.0.0."""
    marker = uuid.uuid4().hex
    dev = DevSubprocess(env / "data", tmp_path, marker)
    try:
        api = dev.start()
        spec = yaml.safe_load((ROOT / "examples/counter/component.yaml").read_text())
        spec.update(name="c-killed", health_check={"path": "/health", "timeout_seconds": 4})
        spec["target"].update(cwd=str(ROOT), grace_seconds=2)
        assert api.post("/v1/components", json=spec).status_code == 201
        assert api.post("/v1/components/c-killed/deploy", json={}).status_code == 202

        def component() -> dict[str, Any]:
            deadline = time.monotonic() + 30
            while (comp := api.get("/v1/components/c-killed").json())["state"] in TRANSITIONAL:
                assert time.monotonic() < deadline, comp
                time.sleep(0.1)
            return comp

        url = component()["url"]
        analysis = {**ANALYSIS, "measurements": 2, "interval_seconds": 1}
        steps = [
            {"kind": "set_weight", "weight": 50},
            {"kind": "pause", "seconds": 3},
            {"kind": "analysis", "analysis": analysis},
            {"kind": "set_weight", "weight": 100},
        ]
        with Traffic(url, seconds=60) as traffic:
            r = api.post(
                "/v1/components/c-killed/update",
                json={"version": "2.2.0-flaky", "strategy": {"type": "custom", "steps": steps}},
            )
            assert r.status_code == 202, r.text
            dep_id = r.json()["operation"]["id"]
            deadline = time.monotonic() + 20
            while (dep := api.get(f"/v1/deployments/{dep_id}").json()).get("waiting_for") != "pause":
                assert time.monotonic() < deadline and dep.get("status") not in FINAL, dep
                time.sleep(0.1)
            assert split(dep) == [50, 50]
            api.close()
            dev.kill()
            left = kill_marked(marker)
            assert len(left) == 2, left  # one replica of each revision outlived the control plane
            killed = traffic.mark()
            time.sleep(0.3)
            assert all(h.status is None for h in traffic.since(killed + 0.1))
            api = dev.start()
            restarted = traffic.mark()
            deadline = time.monotonic() + 30
            while (dep := api.get(f"/v1/deployments/{dep_id}").json())["status"] not in FINAL:
                assert time.monotonic() < deadline, summary(dep)
                time.sleep(0.1)
            after = traffic.mark()
            traffic.wait_for(10, after)
        assert dep["status"] == "rolled_back", summary(dep)
        assert dep["analysis"][-1]["verdict"] == "fail", summary(dep)
        assert any("error rate" in r for r in dep["analysis"][-1]["reasons"]), summary(dep)
        back = traffic.since(restarted)
        assert {"1.0.0", "2.2.0-flaky"} <= set(versions(back)), versions(back)
        late = traffic.since(after + 0.3)
        assert late and not failures(late) and set(versions(late)) == {"1.0.0"}, versions(late)
        comp = component()
        assert (comp["state"], comp["version"], comp["url"]) == ("Running", "1.0.0", url)
        only_version(url, "1.0.0")
        api.close()
        assert dev.interrupt() == 0, dev.log_path.read_text()
    finally:
        dev.kill()
        left = kill_marked(marker)
    assert not left, f"example processes outlived the control plane: {left}"


# -- product bugs found here (fixed; kept as regression tests) ---------------------------------------


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param(
            [{"kind": "set_weight", "weight": 20}, {"kind": "pause", "seconds": 0.5}], id="pause-0.5s"
        ),
        pytest.param(
            [
                {"kind": "set_weight", "weight": 20},
                {
                    "kind": "analysis",
                    "analysis": {
                        "measurements": 2,
                        "interval_seconds": 0.5,
                        "window_seconds": 2,
                        "min_requests": 0,
                    },
                },
            ],
            id="analysis-interval-0.5s",
        ),
    ],
)
def test_fractional_seconds_in_a_strategy_do_not_strand_the_deployment(cp: Plane, steps):
    cp.running("counter", "c-fraction")
    dep_id = cp.update("c-fraction", {"version": "2.0.0", "strategy": {"type": "custom", "steps": steps}})
    dep = cp.deployment(dep_id)
    path = f"/v1/workflows/{dep['workflow']}/executions/{dep['execution']}"
    deadline = time.monotonic() + 15
    # the record may be written a moment before its workflow starts (404 until then)
    while (execution := cp.api.get(path).json())["status"] in (
        "RUNNING",
        404,
    ) and time.monotonic() < deadline:
        time.sleep(0.1)
    # the workflow has ended (or 15 s passed): the deployment must have ended too, one way or another
    deadline = time.monotonic() + 3
    while (dep := cp.deployment(dep_id))["status"] not in FINAL and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (execution["status"], dep["status"]) == ("SUCCEEDED", "succeeded"), (
        {k: execution.get(k) for k in ("status", "error", "cause")},
        summary(dep),
    )
    assert cp.at_rest("c-fraction", timeout=3)["version"] == "2.0.0"
