"""A starting replica is probed at once, then after pauses of 5 % of the time waited so far (at least
2 ms, at most 25 ms or the provider's interval), so a service that needs 80 ms is seen healthy
within a few ms of it, and one that needs seconds costs a probe every 25 ms."""

from __future__ import annotations

import os
import threading
import types
from itertools import islice
from pathlib import Path

import pytest

from pilothouse.providers.local import process
from pilothouse.providers.local.identity import process_identity
from pilothouse.providers.local.process import Replica, StartFailure, probe_pause, probe_pauses, wait_healthy


class RecordingCancel(threading.Event):
    """A cancel event that records each pause the wait asks for instead of sleeping (and moves the
    fake clock ``now``, when given, by the pause)."""

    def __init__(self, now: list[float] | None = None) -> None:
        super().__init__()
        self.pauses: list[float] = []
        self.now = now

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(round(timeout or 0.0, 4))
        if self.now is not None:
            self.now[0] += timeout or 0.0
        return self.is_set()


def _fake_clock(monkeypatch) -> list[float]:
    """process.py's monotonic clock, moved only by the pauses (a probe takes no time)."""
    now = [1000.0]
    monkeypatch.setattr(process, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    return now


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


def test_the_pause_is_5_percent_of_the_wait_between_2_ms_and_25_ms_or_the_interval():
    assert [round(probe_pause(t, 0.15), 4) for t in (0, 0.01, 0.04, 0.08, 0.2, 0.5, 5, 60)] == [
        0.002,
        0.002,
        0.002,
        0.004,
        0.01,
        0.025,
        0.025,
        0.025,
    ]
    assert probe_pause(1.0, 0.015) == 0.015
    assert probe_pause(0.0, 0.001) == 0.001


def test_the_stop_pauses_double_up_to_their_cap():
    assert [round(p, 3) for p in islice(probe_pauses(0.05, 0.002, 0.025), 6)] == [
        0.002,
        0.004,
        0.008,
        0.016,
        0.025,
        0.025,
    ]
    assert list(islice(probe_pauses(0.005, 0.01, 0.025), 3)) == [0.005, 0.005, 0.005]


def test_a_replica_is_probed_at_once_then_with_pauses_growing_with_the_wait(monkeypatch, tmp_path):
    """Given a replica that answers after about 100 ms, when the provider waits for it with a 150 ms
    interval, then it is probed every 2 ms for the first 40 ms, then every 5 % of the time waited,
    and the wait ends at most one pause (~5 ms) after it became healthy."""
    now = _fake_clock(monkeypatch)
    start = now[0]
    calls: list[str] = []

    def fake_probe(host, port, path, timeout=1.0):
        calls.append(path)
        ok = now[0] - start >= 0.1
        return ok, "HTTP 200" if ok else "ConnectionRefusedError"

    monkeypatch.setattr(process, "probe", fake_probe)
    cancel = RecordingCancel(now)

    wait_healthy([_replica(tmp_path)], "/health", 20, interval=0.15, cancel=cancel)

    assert cancel.pauses[:20] == [0.002] * 20
    assert cancel.pauses == sorted(cancel.pauses)
    assert max(cancel.pauses) <= 0.0052
    assert 0.1 <= now[0] - start <= 0.1 + 0.0052
    assert len(calls) == len(cancel.pauses) + 1


def test_a_slow_start_is_probed_every_25_ms_at_most(monkeypatch, tmp_path):
    """Given a replica that needs 3 s, then after the first half second the pauses stay at 25 ms
    (about 140 probes in all, ~6 ms of CPU)."""
    now = _fake_clock(monkeypatch)
    start = now[0]

    def fake_probe(*args, **kwargs):
        ok = now[0] - start >= 3.0
        return ok, "HTTP 200" if ok else "ConnectionRefusedError"

    monkeypatch.setattr(process, "probe", fake_probe)
    cancel = RecordingCancel(now)

    wait_healthy([_replica(tmp_path)], "/health", 20, interval=0.15, cancel=cancel)

    assert max(cancel.pauses) == 0.025
    assert 120 <= len(cancel.pauses) <= 180


def test_a_replica_never_healthy_fails_at_its_deadline(monkeypatch, tmp_path):
    now = _fake_clock(monkeypatch)
    start = now[0]
    _probes(monkeypatch, [False] * 10_000)
    cancel = RecordingCancel(now)
    with pytest.raises(StartFailure, match="not healthy within 2s"):
        wait_healthy([_replica(tmp_path)], "/health", 2, interval=0.15, cancel=cancel)
    assert 2.0 <= now[0] - start <= 2.03


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
