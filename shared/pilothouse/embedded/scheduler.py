"""A local stand-in for EventBridge scheduled rules: calls jobs on ``rate(...)``/``cron(...)`` schedules.

    scheduler = Scheduler(SystemClock(), [ScheduledJob("nightly", "cron(0 2 * * ? *)", handler)])
    scheduler.start()   # a background thread calls tick() when a job is due
    ...
    scheduler.stop()

Each callback gets an EventBridge "Scheduled Event" dict (see :func:`scheduled_event`) whose
``time`` is the scheduled fire time.

Semantics, and where they differ from EventBridge:

* Rates count from the scheduler's start (``start()``, or construction if ``tick`` is driven by
  hand): ``rate(5 minutes)`` first fires 5 minutes after it.
* Missed fires are **not** replayed: nothing is remembered across restarts, and if the process
  was asleep or the clock jumped past several fire times, the job fires once and then resumes at
  its next fire time after *now*.
* Callbacks run in a small thread pool (``max_workers``, default 4), so a long-running callback
  does not delay other jobs. A job whose previous run is still going when it is due again is
  skipped for that fire (logged), so one slow job cannot fill the pool. ``max_workers=0`` runs
  callbacks inline inside :meth:`Scheduler.tick`, serially, in job order.
* A callback that raises is logged (``logging``) and changes nothing else.
* ``time_scale`` (``pilothouse dev``: the ``schedule_scale`` setting, ``PILOTHOUSE_SCHEDULE_SCALE``,
  default 1) runs rates that many times faster: at 10, ``rate(1 minute)`` fires every 6 s. Cron
  expressions name wall-clock times and are not scaled. The event's ``time`` is the real fire time.
* On a :class:`~pilothouse.clock.ScaledClock` (``PILOTHOUSE_CLOCK_SCALE``) every schedule, rate and
  cron, follows that clock: ``rate(1 minute)`` fires each clock minute (every 6 s at 10), and the
  event's ``time`` is the clock's.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pilothouse.clock import Clock, real_seconds
from pilothouse.embedded.schedule import parse_schedule, scaled

log = logging.getLogger(__name__)

ACCOUNT = "000000000000"
REGION = "us-east-1"


@dataclass(frozen=True)
class ScheduledJob:
    """A rule: its name (used in the event's resource ARN), schedule expression and callback."""

    name: str
    expression: str
    callback: Callable[[dict[str, Any]], Any]


def scheduled_event(
    rule: str, when: float, *, account: str = ACCOUNT, region: str = REGION
) -> dict[str, Any]:
    """The event EventBridge sends for a scheduled rule firing at ``when``."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/{rule}"],
        "detail": {},
    }


class Scheduler:
    """Fires :class:`ScheduledJob` callbacks when their schedules come due (see the module docstring)."""

    def __init__(
        self,
        clock: Clock,
        jobs: Sequence[ScheduledJob],
        *,
        max_workers: int = 4,
        poll_interval: float = 1.0,
        account: str = ACCOUNT,
        region: str = REGION,
        time_scale: float = 1.0,
    ) -> None:
        names = [job.name for job in jobs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate scheduled job names: {', '.join(duplicates)}")
        self._clock = clock
        self._jobs = {job.name: job for job in jobs}
        self._schedules = {  # ScheduleError early
            job.name: scaled(parse_schedule(job.expression), time_scale) for job in jobs
        }
        self._max_workers = max_workers
        self._poll_interval = poll_interval
        self._account = account
        self._region = region
        self._lock = threading.RLock()
        self._next: dict[str, float | None] = {}
        self._running: dict[str, Future[Any]] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._arm(clock.time())

    # -- schedule state ----------------------------------------------------------------------------

    def _arm(self, start: float) -> None:
        """Compute every job's first fire after ``start`` (rates count from ``start``)."""
        with self._lock:
            for name, schedule in self._schedules.items():
                self._schedules[name] = schedule = schedule.anchored(start)
                self._next[name] = schedule.next_after(start)

    def next_fire(self, name: str) -> float | None:
        """When the job fires next (seconds since the epoch), or None if it never will again."""
        with self._lock:
            return self._next[name]

    # -- firing ------------------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> list[str]:
        """Fire every job due at ``now`` (default: the clock's time); returns the names fired."""
        now = self._clock.time() if now is None else now
        fired: list[str] = []
        with self._lock:
            for name, job in self._jobs.items():
                due = self._next[name]
                if due is None or due > now:
                    continue
                self._next[name] = self._schedules[name].next_after(now)
                event = scheduled_event(name, due, account=self._account, region=self._region)
                if self._dispatch(job, event):
                    fired.append(name)
        return fired

    def _dispatch(self, job: ScheduledJob, event: dict[str, Any]) -> bool:
        if self._max_workers <= 0:
            self._run(job, event)
            return True
        previous = self._running.get(job.name)
        if previous is not None and not previous.done():
            log.warning("scheduled job %s is still running; skipping the fire of %s", job.name, event["time"])
            return False
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._max_workers, thread_name_prefix="pilothouse-job")
        self._running[job.name] = self._executor.submit(self._run, job, event)
        return True

    @staticmethod
    def _run(job: ScheduledJob, event: dict[str, Any]) -> None:
        try:
            job.callback(event)
        except Exception:
            log.exception("scheduled job %s failed (event %s at %s)", job.name, event["id"], event["time"])

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait for the callbacks under way to finish; True if they all did within ``timeout``."""
        with self._lock:
            futures = list(self._running.values())
        _, pending = wait_futures(futures, timeout=timeout)
        return not pending

    # -- background thread -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background thread; rates count from now. Calling it twice is an error."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("scheduler already started")
            self._stopping.clear()
            self._arm(self._clock.time())
            self._thread = threading.Thread(target=self._loop, name="pilothouse-scheduler", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                now = self._clock.time()
                self.tick(now)
                with self._lock:
                    upcoming = [t for t in self._next.values() if t is not None]
                soonest = real_seconds(self._clock, min(upcoming) - now) if upcoming else self._poll_interval
                delay = min(self._poll_interval, soonest)  # real seconds, on a scaled clock too
            except Exception:  # pragma: no cover - tick only raises on bugs; keep the loop alive
                log.exception("scheduler tick failed")
                delay = self._poll_interval
            self._stopping.wait(max(delay, 0.01))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread promptly; wait up to ``timeout`` s for callbacks under way, drop the rest."""
        self._stopping.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        self.wait_idle(timeout)
        with self._lock:
            executor, self._executor = self._executor, None
            self._running.clear()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Scheduler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
