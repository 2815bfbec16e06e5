"""What the router measured, as datapoints (issue 11 §1: collection without the component's help).

For each revision of a revision set, over [since, until): one ``requests`` and one ``errors``
datapoint per minute (Count), and every request's ``latency_ms`` (Milliseconds), each with the
dimensions ``revision`` (the version) and ``revision_id``. The router stamps samples with a
monotonic clock; they are placed on the control plane's clock by the distance from now, times that
clock's rate (a scaled clock, ``PILOTHOUSE_CLOCK_SCALE``, puts a real second's samples ``scale``
seconds apart).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pilothouse.clock import Clock, SystemClock, rate

if TYPE_CHECKING:
    from pilothouse.providers.local.revision_set import RevisionSet


def router_datapoints(
    rset: RevisionSet, since: float, until: float, clock: Clock | None = None
) -> list[dict[str, Any]]:
    """The router's samples of every revision of ``rset`` in [since, until) (seconds on ``clock``,
    the system clock by default)."""
    router = rset.router
    clock = clock or SystemClock()
    speed = rate(clock)
    now, mono = clock.time(), router.clock()

    def placed(t: float) -> float:  # a router stamp on the clock
        return now - (mono - t) * speed

    def stamp(ts: float) -> float:  # a clock time as a router stamp
        return mono - (now - ts) / speed

    out: list[dict[str, Any]] = []
    with rset.lock:
        revisions = [(rid, rev.version) for rid, rev in rset.revisions.items()]
    for rid, version in revisions:
        dims = {"revision": version, "revision_id": rid}
        minutes: dict[int, list[int]] = {}
        for t, latency, error in router.samples_between(rid, stamp(since), stamp(until)):
            wall = placed(t)
            counts = minutes.setdefault(int(wall) - int(wall) % 60, [0, 0])
            counts[0] += 1
            counts[1] += error
            out.append(
                {
                    "name": "latency_ms",
                    "value": latency * 1000,
                    "timestamp": wall,
                    "unit": "Milliseconds",
                    "dimensions": dims,
                }
            )
        for minute in range(int(since) - int(since) % 60, int(until), 60):
            if minute < since:
                continue
            requests, errors = minutes.get(minute, [0, 0])
            for name, value in (("requests", requests), ("errors", errors)):
                out.append(
                    {
                        "name": name,
                        "value": float(value),
                        "timestamp": float(minute),
                        "unit": "Count",
                        "dimensions": dims,
                    }
                )
    return out
