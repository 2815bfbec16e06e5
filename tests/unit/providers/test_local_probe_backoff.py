"""A starting replica is probed at once, then after 10, 20, 25, 25 ms ... (at most the provider's
interval), so a service that needs 70 ms is seen healthy soon after, not at the second 150 ms tick."""

from __future__ import annotations

import os
import threading
from itertools import islice
from pathlib import Path

import pytest

from pilothouse.providers.local import process
from pilothouse.providers.local.process import (
    Replica,
    StartFailure,
    probe_pauses,
    process_identity,
    wait_healthy,
)


class RecordingCancel(threading.Event):
    """A cancel event that records each pause the wait asks for instead of sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.pauses: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(round(timeout or 0.0, 3))
        return self.is_set()


def _replica(tmp_path: Path) -> Replica:
    """A replica record for this very process (alive, the same process), on a port nobody probes."""
    pid = os.getpid()
    return Replica(pid, 1, "1.0.0", "r1", tmp_path / "log", 0.0, process_identity(pid), [])


def _probes(monkeypatch, answers: list[bool]) -> list[str]:
    calls: list[str] = []

    def fake_probe(host, port, path, timeout=1.0):
        calls.append(path)
        ok = answers[len(calls) - 1] if len(calls) <= len(answers) else True
        return ok, "HTTP 200" if ok else "ConnectionRefusedError"

    monkeypatch.setattr(process, "probe", fake_probe)
    return calls


def test_the_pauses_start_at_10_ms_and_double_up_to_25_ms_or_the_interval():
    assert [round(p, 3) for p in islice(probe_pauses(0.15), 5)] == [0.01, 0.02, 0.025, 0.025, 0.025]
    assert [round(p, 3) for p in islice(probe_pauses(0.015), 4)] == [0.01, 0.015, 0.015, 0.015]
    assert list(islice(probe_pauses(0.005), 3)) == [0.005, 0.005, 0.005]


def test_a_replica_is_probed_at_once_then_with_a_doubling_back_off(monkeypatch, tmp_path):
    """Given a replica that answers its sixth probe, when the provider waits for it with a 150 ms
    interval, then the probes are separated by 10, 20, 25, 25 and 25 ms and the wait ends at the sixth."""
    calls = _probes(monkeypatch, [False, False, False, False, False, True])
    cancel = RecordingCancel()

    wait_healthy([_replica(tmp_path)], "/health", 20, interval=0.15, cancel=cancel)

    assert calls == ["/health"] * 6
    assert cancel.pauses == [0.01, 0.02, 0.025, 0.025, 0.025]


def test_a_replica_healthy_at_once_is_not_waited_for(monkeypatch, tmp_path):
    calls = _probes(monkeypatch, [True])
    cancel = RecordingCancel()
    wait_healthy([_replica(tmp_path)], "/health", 20, cancel=cancel)
    assert (calls, cancel.pauses) == (["/health"], [])


def test_a_cancelled_wait_fails_at_once(monkeypatch, tmp_path):
    """Given a replica that never answers, when the cancel event is set, then the wait raises
    StartFailure naming the cancellation after the probe in progress."""
    _probes(monkeypatch, [False] * 100)
    cancel = RecordingCancel()
    cancel.set()
    with pytest.raises(StartFailure, match="cancelled"):
        wait_healthy([_replica(tmp_path)], "/health", 20, cancel=cancel)
