"""How far one update request travels: the modules of Pilothouse it runs code in, from the HTTP
event to the component Running on its new version (issue 8 measured ~55 files, with jobs.py and
deployments.py entered three times each). Figures are printed, never asserted."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

from pilothouse.settings import get_settings
from pilothouse.wiring import Services, register_services
from tests.support.bench import report
from tests.support.controlplane import drain
from tests.support.deploying import running, update
from tests.support.fakes import RevisionFake

pytestmark = pytest.mark.benchmark

PACKAGE = str(Path(__file__).resolve().parents[2] / "shared" / "pilothouse")


@pytest.fixture
def services(env, clock):
    s = Services(get_settings(), clock, providers={"local": RevisionFake()})
    register_services(s)
    return s


def test_one_update_request_walk(api, services, pool, cloud, monkeypatch):
    def run():
        drain(services, pool, cloud)

    running(api, run)
    files: set[str] = set()
    invocations: list[tuple[str, set[str]]] = []  # each function invocation and the modules it ran
    real_invoke = pool.invoke

    def invoke(name, event):
        invocations.append((name, set()))
        return real_invoke(name, event)

    def tracer(frame, event, arg):
        if event == "call" and invocations:
            path = frame.f_code.co_filename
            if path.startswith(PACKAGE):
                rel = path[len(PACKAGE) + 1 :]
                files.add(rel)
                invocations[-1][1].add(rel)

    monkeypatch.setattr(pool, "invoke", invoke)
    sys.setprofile(tracer)
    try:
        update(api, {"version": "2.0.0", "strategy": "all-at-once"})
        run()
    finally:
        sys.setprofile(None)
    assert api.get("/v1/components/web")[2]["version"] == "2.0.0"
    packages = Counter(f.split("/")[0] if "/" in f else f for f in files)

    def touching(module: str) -> str:
        names = [name for name, mods in invocations if module in mods]
        return f"{len(names)} ({', '.join(names)})"

    report(
        "one update request, HTTP to Running (all-at-once, in process, fake provider)",
        {
            "function invocations": f"{len(invocations)} ({', '.join(n for n, _ in invocations)})",
            "modules of pilothouse run": str(len(files)),
            "by package": ", ".join(f"{k} {v}" for k, v in sorted(packages.items())),
            "invocations running services/jobs.py": touching("services/jobs.py"),
            "invocations running services/deployments.py": touching("services/deployments.py"),
        },
    )
