"""The environment an execution runs for is written once: of racing starts naming different
environments for one execution, exactly one environment is kept and every other start is told
so (409); the store is SQLite, written from several threads."""

from __future__ import annotations

import threading

from pilothouse.clock import ManualClock
from pilothouse.errors import Conflict
from pilothouse.services import execution_environments as envs
from pilothouse.settings import Settings
from pilothouse.wiring import Services


def test_racing_starts_keep_exactly_one_environment(tmp_path):
    services = Services(
        Settings.from_environ({"PILOTHOUSE_STORE": "sqlite", "PILOTHOUSE_DATA_DIR": str(tmp_path)}),
        ManualClock(),
    )
    names = ["development", "staging", "production"] * 4
    barrier = threading.Barrier(len(names))
    outcomes: list[tuple[str, str]] = []
    lock = threading.Lock()

    def start(environment: str) -> None:
        barrier.wait()
        try:
            result = "wrote" if envs.record(services, "wf", "x", environment) else "same"
        except Conflict as exc:
            result = f"409:{exc.extra['environment']}"
        with lock:
            outcomes.append((environment, result))

    threads = [threading.Thread(target=start, args=(e,)) for e in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        kept = envs.of(services, {"workflow": "wf", "name": "x"})
        writers = [e for e, r in outcomes if r == "wrote"]
        assert writers == [kept]
        for environment, result in outcomes:
            assert result in ("wrote", "same") if environment == kept else result == f"409:{kept}"
        child = {"workflow": "wf-map", "name": "child-1", "parent": {"workflow": "wf", "name": "x"}}
        assert envs.of(services, child) == kept
        envs.forget(services, "wf")
        assert envs.of(services, {"workflow": "wf", "name": "x"}) is None
    finally:
        services.close()
