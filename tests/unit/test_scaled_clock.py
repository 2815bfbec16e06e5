"""The scaled clock of ``pilothouse dev`` (PILOTHOUSE_CLOCK_SCALE): how it runs, what converts real
seconds to it, how its anchor in the data dir keeps it from running backwards over restarts, and the
settings that allow it only on the embedded backends."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from pilothouse.clock import (
    ManualClock,
    ScaledClock,
    SystemClock,
    clock_seconds,
    rate,
    real_seconds,
    wall_time,
)
from pilothouse.embedded.datadir_lock import StartRefused
from pilothouse.embedded.dev_clock import CLOCK_FILE, close_clock, open_clock
from pilothouse.embedded.scheduler import ScheduledJob, Scheduler
from pilothouse.errors import ConfigurationError
from pilothouse.messaging.local import LocalQueue
from pilothouse.ports import QueueSpec
from pilothouse.providers.local.metric_samples import router_datapoints
from pilothouse.settings import Settings

START = 1_800_000_000.0


class Monotonic:
    """A monotonic clock that moves when told to."""

    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def test_a_scaled_clock_runs_scale_times_as_fast_from_its_start():
    """Given a clock at scale 10 starting at START, when 3 real (monotonic) seconds pass, then it
    reads START + 30; real and clock seconds convert by the scale, other clocks at 1."""
    mono = Monotonic()
    clock = ScaledClock(10, start=START, monotonic=mono)
    assert clock.time() == START
    mono.now += 3
    assert clock.time() == START + 30
    assert (rate(clock), clock_seconds(clock, 2), real_seconds(clock, 60)) == (10.0, 20.0, 6.0)
    manual = ManualClock(START)
    assert (rate(manual), clock_seconds(manual, 2), real_seconds(manual, 60)) == (1.0, 2, 60)
    with pytest.raises(ValueError):
        ScaledClock(0.5)


def test_the_outside_world_gets_the_wall_clock_under_a_scaled_clock():
    """Given a clock at scale 10 started an hour ahead, when a signature or token time is asked for,
    then it is the wall clock's; a manual clock (tests) answers its own time."""
    before = time.time()
    assert before <= wall_time(ScaledClock(10, start=before + 3600)) <= time.time()
    assert wall_time(ManualClock(START)) == START


# -- the anchor in the data dir ----------------------------------------------------------------------


def test_a_fresh_data_dir_at_scale_one_is_on_the_wall_clock_with_no_anchor(tmp_path):
    """Given a fresh data dir, when dev starts unscaled, then its clock is the system clock and no
    clock.json is written."""
    opened = open_clock(tmp_path, 1.0)
    assert isinstance(opened.clock, SystemClock) and opened.lead == 0
    assert not (tmp_path / CLOCK_FILE).exists()


def test_a_scaled_start_records_its_anchor_and_a_restart_continues_it(tmp_path):
    """Given a start at scale 10 at wall time W, when the control plane is restarted 60 s later at
    scale 10 (a SIGKILL and a start: the anchor is all it left), then the clock carries on from
    W + 600 (it kept running at its scale while down), never from the wall clock."""
    first = open_clock(tmp_path, 10.0, wall=START)
    assert isinstance(first.clock, ScaledClock) and first.clock.scale == 10 and first.lead == 0
    anchor = json.loads((tmp_path / CLOCK_FILE).read_text())
    assert anchor == {"scale": 10.0, "wall": START, "clock": START}
    again = open_clock(tmp_path, 10.0, wall=START + 60)
    assert again.lead == 540 and START + 600 <= again.clock.time() < START + 610
    assert json.loads((tmp_path / CLOCK_FILE).read_text())["clock"] == START + 600


def test_an_unscaled_restart_keeps_the_lead_so_stored_times_stay_past(tmp_path):
    """Given a data dir that ran at scale 10 for 60 s (its clock 540 s ahead of the wall)
    When it is started without the scale, and again later
    Then its clock runs at real speed but keeps the lead (never behind what it stored); the anchor
    stays until a fresh data dir."""
    open_clock(tmp_path, 10.0, wall=START)
    plain = open_clock(tmp_path, 1.0, wall=START + 60)
    assert isinstance(plain.clock, ScaledClock) and plain.clock.scale == 1 and plain.lead == 540
    later = open_clock(tmp_path, 1.0, wall=START + 3600)
    assert later.lead == 540 and later.clock.time() >= START + 600 + 3540


def test_a_wall_clock_set_back_does_not_set_the_clock_back(tmp_path):
    """Given an anchor at wall time W reading W + 100, when the next start's wall clock reads W - 50
    (set back), then the clock starts at W + 100, not earlier."""
    (tmp_path / CLOCK_FILE).write_text(json.dumps({"scale": 10, "wall": START, "clock": START + 100}))
    opened = open_clock(tmp_path, 10.0, wall=START - 50)
    assert opened.lead == 150 and opened.clock.time() >= START + 100


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"scale": 10, "wall": 1}',
        '{"scale": 0.1, "wall": 1, "clock": 2}',
        '{"scale": 10, "wall": 5, "clock": 1}',
        '{"scale": 10, "wall": 1, "clock": "NaN"}',
        '{"scale": 10, "wall": 1, "clock": 1e300}',
        '{"scale": 10, "wall": 1, "clock": 1e12}',
    ],
)
def test_an_unreadable_anchor_refuses_the_start_and_changes_nothing(tmp_path, text):
    """Given a clock.json that is not a sane anchor (garbage, missing fields, out of range, ten
    years ahead), when dev starts, then it refuses naming the file and what to do, and leaves it."""
    (tmp_path / CLOCK_FILE).write_text(text)
    with pytest.raises(StartRefused, match="clock.json keeps the clock of this data dir"):
        open_clock(tmp_path, 10.0, wall=START)
    assert (tmp_path / CLOCK_FILE).read_text() == text


# -- the settings --------------------------------------------------------------------------------------


def test_the_clock_scale_is_one_by_default_and_only_for_the_embedded_backends():
    """Given no PILOTHOUSE_CLOCK_SCALE the clock is real; 10 is allowed on the embedded backends;
    below 1, with a cloud store, queue or orchestrator, or with PILOTHOUSE_SCHEDULE_SCALE it is
    refused naming the variable."""
    assert Settings.from_environ({}).clock_scale == 1.0
    assert Settings.from_environ({"PILOTHOUSE_CLOCK_SCALE": "10"}).clock_scale == 10.0
    memory = {"PILOTHOUSE_CLOCK_SCALE": "10", "PILOTHOUSE_STORE": "memory", "PILOTHOUSE_QUEUE": "memory"}
    assert Settings.from_environ(memory).clock_scale == 10
    refused = [
        {"PILOTHOUSE_CLOCK_SCALE": "0.5"},
        {"PILOTHOUSE_CLOCK_SCALE": "601"},
        {"PILOTHOUSE_CLOCK_SCALE": "10", "PILOTHOUSE_STORE": "dynamodb"},
        {"PILOTHOUSE_CLOCK_SCALE": "10", "PILOTHOUSE_QUEUE": "sqs"},
        {"PILOTHOUSE_CLOCK_SCALE": "10", "PILOTHOUSE_ORCHESTRATOR": "stepfunctions"},
        {"PILOTHOUSE_CLOCK_SCALE": "10", "PILOTHOUSE_SCHEDULE_SCALE": "10"},
    ]
    for environ in refused:
        with pytest.raises(ConfigurationError, match="PILOTHOUSE_CLOCK_SCALE"):
            Settings.from_environ(environ)
    assert (
        Settings.from_environ({"PILOTHOUSE_STORE": "dynamodb", "PILOTHOUSE_CLOCK_SCALE": "1"}).clock_scale
        == 1.0
    )


# -- what reads it ---------------------------------------------------------------------------------------


class Router:
    """A router's sample store on a monotonic clock."""

    def __init__(self, mono: Monotonic, samples: list[tuple[float, float, int]]) -> None:
        self.clock, self.samples = mono, samples

    def samples_between(self, rid, since, until):
        return [s for s in self.samples if since <= s[0] < until]


def test_router_samples_are_placed_on_the_scaled_clock():
    """Given a clock at scale 10 reading START + 600 now, and router samples stamped 1 s and 5 s
    (real) ago
    When the router's datapoints of the last 120 clock seconds are read
    Then the samples sit 10 s and 50 s before now on the clock, counted in that clock minute."""
    mono = Monotonic()
    clock = ScaledClock(10, start=START + 600, monotonic=mono)
    router = Router(mono, [(mono.now - 5, 0.01, 0), (mono.now - 1, 0.02, 1), (mono.now - 20, 0.5, 0)])
    rset = SimpleNamespace(
        router=router, lock=threading.Lock(), revisions={"r1": SimpleNamespace(version="1.0.0")}
    )
    points = router_datapoints(rset, START + 480, START + 600, clock)  # type: ignore[arg-type]
    latencies = sorted(p["timestamp"] for p in points if p["name"] == "latency_ms")
    assert latencies == [START + 550, START + 590]  # the one 20 s (200 clock s) ago is outside
    minutes = {(p["name"], p["timestamp"]): p["value"] for p in points if p["unit"] == "Count"}
    minute = START + 540 - (START + 540) % 60
    assert minutes[("requests", minute)] == 2 and minutes[("errors", minute)] == 1


def test_the_local_queue_delays_on_the_clock_and_times_visibility_in_real_seconds(tmp_path):
    """Given a local queue on a clock at scale 100
    When a message is sent with a delay of 50 clock seconds, received with a visibility timeout of
    1 s, and looked for again at once
    Then it arrives after about half a real second, and stays invisible for that real second (100
    clock seconds), then comes back."""
    clock = ScaledClock(100)
    queue = LocalQueue(tmp_path / "queue.db", clock, cross_process_poll=5)
    try:
        queue.declare(QueueSpec("work", visibility_timeout=30))
        sent = time.monotonic()
        queue.send("work", "hello", delay_seconds=50)
        assert queue.receive("work", wait_seconds=0) == []
        [message] = queue.receive("work", wait_seconds=5, visibility_timeout=1)
        arrived = time.monotonic() - sent
        assert 0.4 <= arrived < 4, arrived
        assert queue.receive("work", wait_seconds=0.3) == []  # 30 clock s later: still invisible
        [again] = queue.receive("work", wait_seconds=5)
        assert again.id == message.id
    finally:
        queue.close()


def test_the_scheduler_follows_a_scaled_clock():
    """Given the scheduler on a clock at scale 600 with a rate(1 minute) job, when it runs, then the
    job fires about every tenth of a real second (a clock minute), each event stamped on the clock."""
    clock = ScaledClock(600)
    fired: list[dict] = []
    done = threading.Event()

    def record(event: dict) -> None:
        fired.append(event)
        if len(fired) >= 3:
            done.set()

    scheduler = Scheduler(clock, [ScheduledJob("sweep", "rate(1 minute)", record)], poll_interval=1.0)
    began = time.monotonic()
    with scheduler:
        assert done.wait(10)
    assert time.monotonic() - began < 5  # three clock minutes, not three poll intervals (3 s) or more
    assert fired[0]["time"] >= time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.start + 60))


def test_a_queue_on_a_scaled_clock_keeps_its_sqlite_times_on_that_clock(tmp_path: Path):
    """Given a message sent on a clock 10 000 s ahead, when another queue on the wall clock reads the
    file, then the message is not yet due there (times are the clock's, the reason a data dir keeps
    its clock's lead over restarts)."""
    ahead = ScaledClock(1, start=time.time() + 10_000)
    q1 = LocalQueue(tmp_path / "queue.db", ahead)
    q1.declare(QueueSpec("work", visibility_timeout=30))
    q1.send("work", "x", delay_seconds=5)
    q2 = LocalQueue(tmp_path / "queue.db")
    try:
        assert q2.receive("work", wait_seconds=0) == []
        assert len(q1.receive("work", wait_seconds=0)) == 0  # 5 clock s to go
    finally:
        q1.close()
        q2.close()


def test_the_memory_queue_times_visibility_in_real_seconds_on_a_scaled_clock():
    """Given a memory queue on a clock at scale 100, when a message is received with a visibility
    timeout of 1 s and looked for again at once, then it stays invisible (not 10 ms, a clock second)."""
    from pilothouse.messaging.memory import MemoryQueue

    queue = MemoryQueue(ScaledClock(100))
    queue.declare(QueueSpec("work", visibility_timeout=30))
    queue.send("work", "hello")
    [message] = queue.receive("work", wait_seconds=0, visibility_timeout=1)
    time.sleep(0.2)  # 20 clock seconds
    assert queue.receive("work", wait_seconds=0) == []
    [again] = queue.receive("work", wait_seconds=5)
    assert again.id == message.id


def test_a_clean_stop_lets_the_downtime_pass_at_real_speed(tmp_path):
    """Given a data dir whose clock ran at 600x and was stopped cleanly (close_clock)
    When it starts again a day later, unscaled
    Then its clock is a day past what it read at the stop, not 600 days (a SIGKILL, which cannot
    record a stop, keeps the scale for its downtime: see the restart test above)."""
    opened = open_clock(tmp_path, 600.0)
    time.sleep(0.05)  # 30 clock seconds
    close_clock(tmp_path, opened.clock)
    stopped = json.loads((tmp_path / CLOCK_FILE).read_text())
    assert stopped["scale"] == 1.0 and stopped["clock"] >= stopped["wall"] + 25
    again = open_clock(tmp_path, 1.0, wall=stopped["wall"] + 86_400)
    assert stopped["clock"] + 86_400 <= again.clock.time() < stopped["clock"] + 86_400 + 5
    close_clock(tmp_path, SystemClock())  # on the wall clock: nothing to record
    assert json.loads((tmp_path / CLOCK_FILE).read_text())["wall"] == stopped["wall"] + 86_400
