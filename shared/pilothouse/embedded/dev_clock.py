"""The clock of ``pilothouse dev``: the wall clock, or one running ``PILOTHOUSE_CLOCK_SCALE`` times as
fast from the start (tests and demos that should not wait real minutes), never backwards.

A scaled clock stamps what the control plane stores (metric minutes, leases, alerts, cooldowns) ahead
of the wall clock. So that a restart never puts its clock behind what is stored, ``<data-dir>/clock.json``
keeps the clock's anchor -- ``{"scale": 10.0, "wall": <epoch s>, "clock": <epoch s>}``: at wall time
``wall`` the clock read ``clock`` and ran ``scale`` times as fast from there. A start continues it:

* the last run's clock is carried to now at its own scale, as if it had kept running while the
  control plane was down (a killed run's leases have lapsed on it as they would have), and the new
  clock starts there or at the wall clock, whichever is later, and runs at the new scale. A clean
  stop records its reading at scale 1 (:func:`close_clock`): its downtime passes at real speed;
* so a data dir that ran scaled, started again without the scale, keeps its lead over the wall
  clock (a clock offset, said on the console) rather than going back: stored times stay in its past.
  Only a fresh data dir (or removing ``clock.json``, which puts stored times in the future) is back on
  the wall clock.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     first = open_clock(Path(d), 10.0, wall=1000.0)
...     again = open_clock(Path(d), 1.0, wall=1060.0)   # 60 s later, unscaled: 600 s on
...     (first.lead, again.lead, again.clock.scale)
(0.0, 540.0, 1.0)
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

from pilothouse.clock import Clock, ScaledClock, SystemClock
from pilothouse.embedded.datadir_lock import StartRefused

__all__ = ["CLOCK_FILE", "DevClock", "close_clock", "open_clock"]

CLOCK_FILE = "clock.json"
#: a lead below this is no lead (a clock read a moment after the wall clock it started from)
_NO_LEAD = 1.0
#: the most a stored anchor may say (a clock more than this far ahead of the wall is refused)
_MAX_LEAD = 10 * 365 * 86_400.0


@dataclass(frozen=True)
class DevClock:
    """The clock a start got and its lead over the wall clock then (seconds, 0 for none)."""

    clock: Clock
    lead: float


def open_clock(data_dir: Path, scale: float, *, wall: float | None = None) -> DevClock:
    """The control plane's clock for a start on ``data_dir`` at ``scale`` (see the module docstring);
    records its anchor. Raises :class:`StartRefused` for an anchor file it cannot read (having
    changed nothing). Call it holding the data dir's lock."""
    path = Path(data_dir) / CLOCK_FILE
    now = time.time() if wall is None else wall
    previous = _read(path, now)
    start = max(now, previous) if previous is not None else now
    lead = start - now
    if scale == 1 and lead < _NO_LEAD:
        path.unlink(missing_ok=True)  # back on the wall clock
        return DevClock(SystemClock(), 0.0)
    clock = ScaledClock(scale, start=start)
    _write(path, scale, now, start)
    return DevClock(clock, lead)


def close_clock(data_dir: Path, clock: Clock) -> None:
    """On a clean stop: record what a scaled ``clock`` reads now at scale 1, so that the time until
    the next start passes at real speed (a 600x demo stopped for a day does not come back 600 days
    on). A killed control plane cannot; its anchor keeps its scale."""
    if isinstance(clock, ScaledClock):
        _write(Path(data_dir) / CLOCK_FILE, 1.0, time.time(), clock.time())


def _write(path: Path, scale: float, wall: float, clock: float) -> None:
    tmp = path.with_name(f".{CLOCK_FILE}.{os.getpid()}")
    tmp.write_text(json.dumps({"scale": float(scale), "wall": wall, "clock": max(clock, wall)}) + "\n")
    os.replace(tmp, path)


def _read(path: Path, now: float) -> float | None:
    """What the clock of ``path``'s anchor reads at wall time ``now`` (None without a file)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unreadable(path, str(exc)) from None
    try:
        anchor = json.loads(text)
        scale, wall, clock = (float(anchor[k]) for k in ("scale", "wall", "clock"))
    except (ValueError, TypeError, KeyError) as exc:
        raise _unreadable(path, f"not a clock anchor ({exc.__class__.__name__})") from None
    if not all(map(math.isfinite, (scale, wall, clock))) or not 1 <= scale <= 600 or clock < wall:
        raise _unreadable(path, "its scale, wall or clock is out of range")
    reading = clock + max(0.0, now - wall) * scale  # a wall clock set back does not set it back
    if reading - now > _MAX_LEAD:
        raise _unreadable(path, "its clock is more than ten years ahead of the wall clock")
    return reading


def _unreadable(path: Path, why: str) -> StartRefused:
    return StartRefused(
        f"{path} keeps the clock of this data dir and cannot be read: {why}. Remove it to start on "
        "the wall clock (times stored by a scaled clock then lie in the future), or use another --data-dir"
    )
