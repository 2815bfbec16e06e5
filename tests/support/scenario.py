"""The scenario suite's control plane: a real ``pilothouse dev`` subprocess started from the settings
of one mode (:mod:`tests.support.scenario_modes`), and what the scenario asks of it over HTTP."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml
from tests.support.e2e import ROOT, TRANSITIONAL, DevProcess
from tests.support.scenario_modes import FOREIGN

FINAL = {"succeeded", "rolled_back", "failed", "aborted"}
#: one measurement over 3 s of router-counted traffic (the analysis of real requests)
ANALYSIS = {"measurements": 1, "window_seconds": 3, "max_error_rate": 0.05, "min_requests": 5}


class ModeDev(DevProcess):
    """``pilothouse dev`` whose environment is the mode's settings and nothing of another cloud's."""

    def __init__(
        self, mode: str, settings: dict[str, str], data_dir: Path, log_dir: Path, key: str, marker: str
    ):
        super().__init__(data_dir, log_dir, key, marker)
        self.mode = mode
        self.settings = settings
        self.schedule_scale = 10.0  # the minute sweeps (health, executions) every 6 s

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in super().env.items() if not k.startswith(FOREIGN)}
        env.update(self.settings)
        return env


class Scenario:
    """What the scenario does to the control plane, with the assertions every mode shares."""

    def __init__(self, dev: ModeDev) -> None:
        self.dev = dev
        self.api = dev.http()
        self.timings: dict[str, float] = {}

    def timed(self, step: str) -> _Timer:
        return _Timer(self.timings, step)

    def register(self, name: str, example: str = "counter") -> dict[str, Any]:
        spec = yaml.safe_load((ROOT / "examples" / example / "component.yaml").read_text())
        spec["name"] = name
        spec["target"]["grace_seconds"] = 1
        spec["health_check"] = {"path": "/health", "timeout_seconds": 8}
        r = self.api.post("/v1/components", json=spec)
        assert r.status_code == 201, r.text
        return r.json()

    def component(self, name: str) -> dict[str, Any]:
        r = self.api.get(f"/v1/components/{name}")
        assert r.status_code == 200, r.text
        return r.json()

    def at_rest(self, name: str, timeout: float = 240.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                comp = self.component(name)
            except httpx.TransportError:  # restarting
                comp = {"state": "unreachable"}
            if (
                comp["state"] not in TRANSITIONAL
                and comp["state"] != "unreachable"
                and not comp.get("restoring")
            ):
                return comp
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{name} still {comp['state']} after {timeout}s: {comp}\n{self.dev.log()}"
                )
            time.sleep(0.1)

    def command(self, name: str, command: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.api.post(f"/v1/components/{name}/{command}", json=body or {})

    def accepted(self, name: str, command: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.command(name, command, body)
        assert r.status_code == 202, f"{command}: {r.status_code} {r.text}"
        return r.json()

    def deployment_of(self, accepted: httpx.Response, timeout: float = 30.0) -> str:
        """The deployment an accepted deploy/update became (once the job worker recorded it)."""
        assert accepted.status_code == 202, accepted.text
        dep_id = accepted.json()["operation"]["id"]
        deadline = time.monotonic() + timeout
        while self.api.get(f"/v1/deployments/{dep_id}").status_code == 404:
            assert time.monotonic() < deadline, (
                f"no deployment {dep_id} {timeout}s after the command\n{self.dev.log()}"
            )
            time.sleep(0.1)
        return dep_id

    def deployment(self, dep_id: str) -> dict[str, Any]:
        r = self.api.get(f"/v1/deployments/{dep_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def wait_deployment(self, dep_id: str, until: Any, timeout: float = 240.0) -> dict[str, Any]:
        check = until if callable(until) else (lambda d: d["status"] in until)
        deadline = time.monotonic() + timeout
        while True:
            try:
                dep = self.deployment(dep_id)
            except httpx.TransportError:
                dep = {"status": "unreachable"}
            if dep["status"] != "unreachable" and check(dep):
                return dep
            if dep["status"] in FINAL or time.monotonic() > deadline:
                execution = None
                if dep.get("workflow") and dep.get("execution"):
                    execution = self.api.get(
                        f"/v1/workflows/{dep['workflow']}/executions/{dep['execution']}"
                    ).json()
                raise AssertionError(
                    f"deployment {dep_id} never got {until}: {summary(dep)}\nits execution: {execution}\n"
                    f"{self.dev.log()}"
                )
            time.sleep(0.1)

    def execution(self, workflow: str, name: str, until: set[str], timeout: float = 30.0) -> dict[str, Any]:
        """An execution once its status is in ``until`` (it ends a step after its deployment)."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.api.get(f"/v1/workflows/{workflow}/executions/{name}")
            assert r.status_code == 200, r.text
            if r.json()["status"] in until or time.monotonic() > deadline:
                return r.json()
            time.sleep(0.1)

    def event_types(self, dep_id: str) -> list[str]:
        r = self.api.get(f"/v1/deployments/{dep_id}/events", params={"limit": 500})
        assert r.status_code == 200, r.text
        return [e["type"] for e in r.json()["items"]]

    def backup_run(
        self, path: str, body: dict[str, Any] | None = None, timeout: float = 60.0
    ) -> dict[str, Any]:
        """Start a backup run (create, restore...) and wait for its end."""
        r = self.api.post(path, json=body or {})
        assert r.status_code == 202, r.text
        run_id = r.json()["id"]
        deadline = time.monotonic() + timeout
        while True:
            run = self.api.get(f"/v1/backup-runs/{run_id}").json()
            if run["status"] in ("succeeded", "failed"):
                return run
            assert time.monotonic() < deadline, (
                f"backup run {run} not done after {timeout}s\n{self.dev.log()}"
            )
            time.sleep(0.2)


class _Timer:
    def __init__(self, timings: dict[str, float], step: str) -> None:
        self.timings, self.step = timings, step

    def __enter__(self) -> None:
        self.t0 = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.step] = time.monotonic() - self.t0


def summary(dep: dict[str, Any]) -> dict[str, Any]:
    return {k: dep.get(k) for k in ("status", "waiting_for", "weights", "error", "current_step")} | {
        "steps": [(s["kind"], s["status"]) for s in dep.get("steps", [])],
        "analysis": [
            (m["verdict"], m["reasons"], m["metrics"].get("requests")) for m in dep.get("analysis", [])
        ],
    }


class Traffic:
    """GETs to a component's URL from a thread (127.0.0.1 only): what analyses measure."""

    def __init__(self, url: str, every: float = 0.03) -> None:
        assert httpx.URL(url).host == "127.0.0.1", url
        self.url, self.every = url, every
        self.seen: Counter[Any] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                try:
                    r = client.get(self.url)
                    self.seen[(r.status_code, r.json().get("version"))] += 1
                except (httpx.HTTPError, ValueError):
                    self.seen[(None, None)] += 1
                self._stop.wait(self.every)


def only_version(url: str, version: str, n: int = 5) -> None:
    seen = set()
    for _ in range(n):
        r = httpx.get(url, timeout=5)
        assert r.status_code == 200, r.text
        seen.add(r.json()["version"])
    assert seen == {version}, seen
