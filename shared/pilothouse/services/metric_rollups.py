"""Writing rollups: merging a batch's minutes into the stored minute blocks (and a late batch's
hours into the hour rollups), and compacting finished hours of minutes into hour rollups (the
sweep's part).

Every write is conditional (created if absent, replaced if unchanged since read): a concurrent
writer of the same rollup makes this one read and merge again. A rollup remembers the ids of the
last batches folded into it, so a retried batch (one its sender named with the same id) is not
counted twice where it landed already.

Hour rollups: the sweep writes the hour H (ending at E) once E + 2 h has passed, as the merge of its
minute rollups (an overwrite, so running it twice is harmless). A datapoint of H that arrives after
E + 90 min is folded into the hour rollup directly as well: one arriving before the compaction is
part of the minutes the compaction merges, one arriving after it adds to the compacted hour.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

from pilothouse.domain.metric_histogram import ordered
from pilothouse.domain.metric_minutes import add_minutes
from pilothouse.domain.metrics import combine, new_rollup
from pilothouse.errors import AlreadyExists, VersionConflict
from pilothouse.ports import Item, Put
from pilothouse.repositories.metrics import (
    HOUR,
    MINUTE,
    MetricRepository,
    block_columns,
    hour_rollup,
    minute_rollups,
    rollup_key,
)

if TYPE_CHECKING:
    from pilothouse.services.context import ServiceContext

#: a datapoint whose hour ended this long ago also goes straight into the hour rollup
LATE_AFTER_S = 90 * 60
#: the sweep compacts an hour once it ended this long ago
COMPACT_AFTER_S = 2 * 3600
#: hours one sweep compacts per series at most (a long outage catches up over several sweeps)
CATCH_UP_HOURS = 48
#: the batch ids a rollup remembers
REMEMBERED = 8
#: rollups per transaction (the store takes 25)
CHUNK = 25
#: attempts of one chunk's transaction against concurrent writers of the same rollups, each after a
#: jittered, growing pause (many writers of one hot minute otherwise keep beating each other)
TRIES = 40
MAX_PAUSE_S = 0.05

Slot = tuple[int, str, str, str, int]  # period, component, name, series key, start
#: one minute of a batch, folded in memory: [count, sum, min, max, {bucket code: count}]
Minute = list[Any]
Block = tuple[str, str, str, int]  # component, name, series key, hour
Entry = tuple[tuple[str, str], int, dict[int, Minute]]  # (partition, sort key), hour, minutes


def apply_minutes(repo: MetricRepository, blocks: dict[Block, dict[int, Minute]], batch: str) -> None:
    """Merge a batch's minutes into the stored minute blocks: one conditional transaction per
    partition (a series' day holds at most 24 blocks), each block read, merged in memory and
    written back; the store may commit the partitions' transactions together
    (:meth:`pilothouse.ports.Store.transact_each`). A partition whose blocks a concurrent writer
    changed is read, merged and written again. Each block records the batches it holds, so a
    batch retried after a crash lands only where it is missing."""
    by_partition: dict[str, list[Entry]] = {}
    for (component, name, key, hour), minutes in blocks.items():
        pk, sk = rollup_key(MINUTE, component, name, key, hour)
        by_partition.setdefault(pk, []).append(((pk, sk), hour, minutes))
    pending = list(by_partition.values())
    for attempt in range(TRIES):
        keys = [key for entries in pending for key, _, _ in entries]
        found = iter(repo.current(keys, cached=attempt == 0))
        groups, waiting = [], []
        for entries in pending:
            ops = [_block_write(repo, entry, next(found), batch) for entry in entries]
            if any(ops):
                groups.append([op for op in ops if op is not None])
                waiting.append(entries)
        if not groups:
            return
        done = repo.transact_each(groups)
        pending = [entries for entries, ok in zip(waiting, done, strict=True) if not ok]
        if not pending:
            return
        if attempt == TRIES - 1:
            raise VersionConflict(f"{len(pending)} metric partition(s) kept changing under this batch")
        time.sleep(random.uniform(0, min(MAX_PAUSE_S, 0.001 * 2**attempt)))


def _block_write(repo: MetricRepository, entry: Entry, item: Item | None, batch: str) -> Put | None:
    """The write of one block merged with a batch's minutes; None when the batch is in it already."""
    (pk, sk), hour, minutes = entry
    base = item.data if item is not None else None
    seen = base["batches"].split(",") if base and base["batches"] else []
    if batch in seen:
        return None
    data: dict[str, Any] = {"start": hour, "period": MINUTE}
    touched = {(start - hour) // MINUTE: figures for start, figures in minutes.items()}
    data["minutes"] = add_minutes(block_columns(base) if base else None, touched)
    data["batches"] = ",".join([*seen, batch][-REMEMBERED:])
    if base and base.get("moved"):
        data["moved"] = True
    data["buckets"] = 5  # an older block is read in today's codes above, so written in them
    return repo.write(MINUTE, pk, sk, data, item)


def apply(repo: MetricRepository, partial: dict[Slot, dict[str, Any]], batch: str) -> None:
    """Merge partial hour rollups into the stored ones: the rollups of one partition (one series'
    month of hours), ``CHUNK`` per conditional transaction, so every transaction
    keeps to one partition. A batch need not land in all partitions at once: each rollup records
    the batches it holds, so a batch retried after a crash lands only where it is missing."""
    by_partition: dict[str, list[tuple[Slot, dict[str, Any]]]] = {}
    for slot, part in partial.items():
        by_partition.setdefault(rollup_key(*slot)[0], []).append((slot, part))
    for slots in by_partition.values():
        for offset in range(0, len(slots), CHUNK):
            _apply_chunk(repo, slots[offset : offset + CHUNK], batch)


def _merged(base: dict[str, Any] | None, part: dict[str, Any]) -> dict[str, Any]:
    if base is None:
        return part
    base = hour_rollup(base)
    into = {"count": base["count"], "sum": base["sum"], "min": base["min"], "max": base["max"]}
    into["hist"] = dict(base["hist"])
    return combine(into, part)


def _apply_chunk(repo: MetricRepository, chunk: list[tuple[Slot, dict[str, Any]]], batch: str) -> None:
    keys = [rollup_key(period, c, n, k, start) for (period, c, n, k, start), _ in chunk]
    for attempt in range(TRIES):
        found = repo.current(keys, cached=attempt == 0)
        ops = []
        for ((period, _c, _n, _k, start), part), (pk, sk), item in zip(chunk, keys, found, strict=True):
            base = item.data if item is not None else None
            seen = base["batches"].split(",") if base and base["batches"] else []
            if batch in seen:
                continue  # this batch landed here already
            data: dict[str, Any] = {"start": start, "period": period}
            data.update(_merged(base, part))
            data["hist"] = ordered(data["hist"])
            data["batches"] = ",".join([*seen, batch][-REMEMBERED:])
            data["buckets"] = 5
            ops.append(repo.write(period, pk, sk, data, item))
        if not ops:
            return
        try:
            repo.transact(ops)
            return
        except (VersionConflict, AlreadyExists):
            if attempt == TRIES - 1:
                raise
            time.sleep(random.uniform(0, min(MAX_PAUSE_S, 0.001 * 2**attempt)))


def compacted_from(now: float) -> int:
    """Where a new series' compaction starts: the first hour a datapoint arriving now or later could
    reach without going straight into its hour rollup (see :data:`LATE_AFTER_S`)."""
    first = int(now) - LATE_AFTER_S - HOUR
    return first - first % HOUR


def compact(ctx: ServiceContext, *, component: str | None = None) -> int:
    """Write the hour rollups of every finished hour not compacted yet; how many were written."""
    repo = MetricRepository(ctx.store)
    now = int(ctx.clock.time())
    ready = (now - COMPACT_AFTER_S) // HOUR * HOUR  # every hour before this ended 2 h ago or more
    written = 0
    for series in repo.series(component):
        hour = series["compacted_until"]
        stop = min(ready, hour + CATCH_UP_HOURS * HOUR)
        while hour < stop:
            written += _compact_hour(repo, series, hour)
            hour += HOUR
        if hour > series["compacted_until"]:
            repo.mark_compacted(series, hour)
    return written


def _compact_hour(repo: MetricRepository, series: dict[str, Any], hour: int) -> int:
    """The hour rollup as the merge of its minutes. The hour's version is read first, so a late
    datapoint written into the hour meanwhile makes this read the minutes again."""
    c, n, k = series["component"], series["name"], series["key"]
    pk, sk = rollup_key(HOUR, c, n, k, hour)
    for attempt in range(TRIES):
        [item] = repo.current([(pk, sk)])
        block = repo.block(c, n, k, hour)
        if block is None:
            return 0
        total = new_rollup()
        for m in minute_rollups(block.data, hour, hour + HOUR):
            combine(total, m)
        data: dict[str, Any] = {"start": hour, "period": HOUR}
        data.update(total)
        data["hist"] = ordered(total["hist"])
        data["batches"] = item.data["batches"] if item is not None else ""
        data["buckets"] = 5
        try:
            repo.transact([repo.write(HOUR, pk, sk, data, item)])
            return 1
        except (VersionConflict, AlreadyExists):
            if attempt == TRIES - 1:
                raise
            time.sleep(random.uniform(0, min(MAX_PAUSE_S, 0.001 * 2**attempt)))
    return 0
