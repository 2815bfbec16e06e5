"""A worker process for test_distributed_map_sigkill: drains the queues and sweeps, forever.

Its task function ``work`` records each call (item and pid) in CALLS_FILE, synced before it
answers, so the test can tell a call that finished from one its SIGKILL interrupted."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pilothouse.embedded.functions import FunctionPool  # noqa: E402
from pilothouse.embedded.template import read_cloud  # noqa: E402
from pilothouse.services.execution_steps import sweep  # noqa: E402
from pilothouse.settings import Settings, get_settings  # noqa: E402
from pilothouse.wiring import Services, register_services  # noqa: E402
from tests.support.controlplane import ROOT, drain  # noqa: E402


class Recorder:
    def timeout_of(self, name: str) -> float:
        return 5.0

    def invoke(self, name: str, payload):
        with open(os.environ["CALLS_FILE"], "a") as f:
            f.write(json.dumps({"n": payload["n"], "pid": os.getpid(), "at": "start"}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        time.sleep(0.003)
        with open(os.environ["CALLS_FILE"], "a") as f:
            f.write(json.dumps({"n": payload["n"], "pid": os.getpid(), "at": "end"}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return {"n": payload["n"], "by": os.getpid()}


def main() -> None:
    services = Services(get_settings(), invoker=Recorder())
    register_services(services)
    cloud = read_cloud(ROOT, Settings())
    pool = FunctionPool(cloud.functions)
    while True:
        sweep(services, stale_after=0.5)
        drain(services, pool, cloud, limit=1_000_000)
        time.sleep(0.02)


if __name__ == "__main__":
    main()
