"""What tombstones of derived entries cost the readers (the ABA fix of ``repositories.derived``).

An entry no longer called for stays a day as a tombstone. The worst case for the sweeps' in-flight
index is a fleet whose every component ended a command within the day: ``in_flight`` then reads a
tombstone per component. The worst case for a listing is as many deregistered names as live ones,
interleaved. Seeded on SQLite, 1,000 components (``BENCH_TOMBSTONE_FLEET``), 10 with a command.

Anchors, in the same run: ``in_flight`` over the index without tombstones, and one plain pass over
every component's listing entry (``ComponentRepository.each``, what the index saves the sweeps);
the first listing page without tombstones.

    .venv/bin/python -m pytest tests/benchmarks/test_bench_tombstones.py -m benchmark -s
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from pilothouse.clock import ManualClock
from pilothouse.repositories.components import ComponentRepository
from pilothouse.store.sqlite import SqliteStore
from tests.support.bench import report
from tests.support.component_records import EVENT, record

FLEET = int(os.environ.get("BENCH_TOMBSTONE_FLEET", "1000"))
BUSY = 10
ROUNDS = 15


def _seed(path: Path, *, ended: bool, removed: bool) -> ComponentRepository:
    """``FLEET`` components (``BUSY`` with a command); ``ended``: every other one ended a command
    (an in-flight tombstone each); ``removed``: as many names again deregistered (listing tombstones)."""
    repo = ComponentRepository(SqliteStore(path, ManualClock(1_800_000_000.0)))
    repo.backfill()
    for i in range(FLEET):
        name = f"c{i:05d}"
        r = repo.create(record(name), EVENT)
        if ended and i >= BUSY:
            r = repo.update(r, record(name, op=f"op-{i}"), EVENT)
            repo.update(r, record(name, state="Running"), EVENT)
        if i < BUSY:
            repo.update(r, record(name, op=f"op-{i}"), EVENT)
        if removed:
            repo.remove(repo.create(record(f"{name}x"), EVENT), EVENT)
    return repo


def _best(fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        began = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - began)
    return best


def test_tombstones_cost_the_readers(tmp_path: Path) -> None:
    plain = _seed(tmp_path / "plain.db", ended=False, removed=False)
    marked = _seed(tmp_path / "marked.db", ended=True, removed=True)
    assert len(plain.in_flight()) == len(marked.in_flight()) == BUSY
    assert [r.name for r in plain.list(limit=50)[0]] == [r.name for r in marked.list(limit=50)[0]]

    index_anchor = _best(plain.in_flight)
    full_pass = _best(lambda: sum(1 for _ in plain.each()))
    index_tombs = _best(marked.in_flight)
    page_anchor = _best(lambda: plain.list(limit=50))
    page_tombs = _best(lambda: marked.list(limit=50))
    report(
        f"tombstones of derived entries ({FLEET} components, {BUSY} busy; SQLite; best of {ROUNDS})",
        {
            "in_flight, no tombstones (anchor)": f"{index_anchor * 1e3:.2f} ms",
            "in_flight, a tombstone per idle component": f"{index_tombs * 1e3:.2f} ms "
            f"(x{index_tombs / index_anchor:.1f} the anchor)",
            "each() over every component": f"{full_pass * 1e3:.2f} ms (x{full_pass / index_anchor:.1f})",
            "list(limit=50), no tombstones (anchor)": f"{page_anchor * 1e3:.2f} ms",
            "list(limit=50), a tombstone between each": f"{page_tombs * 1e3:.2f} ms "
            f"(x{page_tombs / page_anchor:.1f} the anchor)",
        },
    )
    for repo in (plain, marked):
        repo.store.close()
