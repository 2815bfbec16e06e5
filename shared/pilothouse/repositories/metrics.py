"""The metrics repository: series and their rollups on the storage port.

- ``METRIC_SERIES`` / ``<component>#<metric>#<key>``: a series (component, name, dimensions, unit);
- ``METRIC_MIN#<component>#<metric>#<key>#<YYYY-MM-DD>`` / ``H#HH``: the minute rollups of one
  hour, one item holding up to 60 minutes (15 days; layout version 4, before it one item per
  minute under ``HH:MM``, see :func:`migrate_minutes`);
- ``METRIC_COLLECT#<component>`` / ``cursor``: how far the collection sweep measured the component
  (a partition per component: the sweep's writes spread like the fleet);
- ``METRIC_HOUR#<component>#<metric>#<key>#<YYYY-MM>`` / ``DDTHH``: an hour rollup (400 days).

Rollups are partitioned per series and per day (minutes) or month (hours), so the fleet's writes
spread over as many partitions as there are series, and a query reads one partition per day: a
24 h query at one-minute resolution is at most two partition reads of at most 24 items each.

A minute block's ``minutes`` holds its minute rollups as columns of packed arrays (count, sum, min,
max, each minute's histogram packed into one string, and p50/p90/p99 kept beside them:
:mod:`pilothouse.domain.metric_minutes`), so a query decodes only the columns it reads.
The series index is written once per new series, never per datapoint.
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pilothouse.domain import metric_legacy
from pilothouse.domain.metric_minutes import decode, rollup, values
from pilothouse.domain.metrics import HOUR_RETENTION_S, MINUTE_RETENTION_S
from pilothouse.domain.records import checked, stored
from pilothouse.errors import AlreadyExists, VersionConflict
from pilothouse.ports import Delete, Item, Put, Store

SERIES = "METRIC_SERIES"
COLLECTED = "METRIC_COLLECT"

#: the series each store is known to hold already, so an ingest reads the index only for new ones
#: (an entry is only ever added after the series record is there; a forgotten series leaves it)
_known: weakref.WeakKeyDictionary[Store, set[str]] = weakref.WeakKeyDictionary()
#: the rollups this process wrote last, per store (see MetricRepository.current)
_written: weakref.WeakKeyDictionary[Store, dict[tuple[str, str], Item]] = weakref.WeakKeyDictionary()
_REMEMBER_WRITES = 20_000
MINUTE, HOUR = 60, 3600


#: the sort-key prefix of the minute blocks in a series' day partition
BLOCK = "H#"
DAY = 86400


def rollup_key(period: int, component: str, name: str, key: str, start: int) -> tuple[str, str]:
    """The (partition, sort key) of the item holding the rollup of ``period`` seconds starting at
    ``start``: for a minute, its hour's block."""
    kind, when, sk = _spelled(period == MINUTE, start)
    return f"{kind}#{component}#{name}#{key}#{when}", sk


@functools.lru_cache(maxsize=4096)
def _spelled(minutes: bool, start: int) -> tuple[str, str, str]:
    """The partition's kind and date, and the sort key, of a rollup key (see :func:`rollup_key`)."""
    moment = datetime.fromtimestamp(start, UTC)
    if minutes:
        return "METRIC_MIN", f"{moment:%Y-%m-%d}", f"{BLOCK}{moment:%H}"
    return "METRIC_HOUR", f"{moment:%Y-%m}", f"{moment:%dT%H}"


def minute_rollups(block: dict[str, Any], start: int, end: int) -> list[dict[str, Any]]:
    """The minute rollups of a stored block whose start lies in [start, end), in time order, each
    with its histogram unpacked, in value order (``"ordered": True``)."""
    return [rollup(entry, at, MINUTE) for at, entry in minute_entries(block, start, end)]


def block_columns(block: dict[str, Any]) -> dict[str, Any]:
    """A stored block's minutes (columns) in today's bucket codes, whatever layout wrote them
    (:mod:`pilothouse.domain.metric_legacy`)."""
    return block["minutes"] if metric_legacy.current(block) else metric_legacy.columns(block["minutes"])


def hour_rollup(data: dict[str, Any]) -> dict[str, Any]:
    """A stored hour rollup with its histogram in today's bucket spelling."""
    if metric_legacy.current(data):
        return data
    return {**data, "hist": metric_legacy.hist(data["hist"], data["min"], data["max"]), "buckets": 5}


def minute_entries(block: dict[str, Any], start: int, end: int) -> list[tuple[int, tuple]]:
    """The minutes of a stored block whose start lies in [start, end), in time order, as stored
    (:mod:`pilothouse.domain.metric_minutes`), each beside its start."""
    hour = block["start"]
    out = []
    for mm, entry in decode(block_columns(block)).items():
        at = hour + int(mm) * MINUTE
        if start <= at < end:
            out.append((at, entry))
    return out


class MetricRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- series -----------------------------------------------------------------------------------

    def series(self, component: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
        """The series of a component (and metric), or of the whole fleet."""
        prefix = "" if component is None else f"{component}#" if name is None else f"{component}#{name}#"
        return [i.data for i in self.store.scan_all(SERIES, prefix, page_size=1000)]

    def has_series(self, component: str, name: str, key: str) -> bool:
        sk = f"{component}#{name}#{key}"
        known = _known.setdefault(self.store, set())
        if sk in known:
            return True
        if self.store.get(SERIES, sk) is None:
            return False
        known.add(sk)
        return True

    def add_series(self, data: dict[str, Any]) -> None:
        """Record a series once (a concurrent writer of the same series is fine)."""
        sk = f"{data['component']}#{data['name']}#{data['key']}"
        with contextlib.suppress(AlreadyExists):
            self.store.put(Item(SERIES, sk, stored("MetricSeriesRecord", data)), if_absent=True)

    def mark_compacted(self, series: dict[str, Any], until: int) -> None:
        """Record that hour rollups exist up to ``until`` (a concurrent sweep's mark may win)."""
        sk = f"{series['component']}#{series['name']}#{series['key']}"
        item = self.store.get(SERIES, sk)
        if item is None or item.data["compacted_until"] >= until:
            return
        data = {**item.data, "compacted_until": until}
        with contextlib.suppress(VersionConflict):
            self.store.put(Item(SERIES, sk, stored("MetricSeriesRecord", data)), if_version=item.version)

    def forget_series(self, component: str) -> int:
        """Drop a component's series from the index (its rollups expire by themselves)."""
        items = self.store.scan_all(SERIES, f"{component}#", page_size=1000)
        for item in items:
            self.store.delete(SERIES, item.sk)
            _known.get(self.store, set()).discard(item.sk)
        return len(items)

    # -- rollups ----------------------------------------------------------------------------------

    def current(self, keys: Sequence[tuple[str, str]], *, cached: bool = False) -> list[Item | None]:
        """The stored rollups; ``cached``: as this process last wrote them where it remembers (a
        stale one only makes the conditional write fail, and the caller reads again)."""
        if not cached:
            return [self.store.get(pk, sk) for pk, sk in keys]
        recent = _written.get(self.store) or {}
        return [recent[k] if k in recent else self.store.get(*k) for k in keys]

    @staticmethod
    def write(period: int, pk: str, sk: str, data: dict[str, Any], found: Item | None) -> Put:
        """The conditional write of an hour rollup or a minute block (``period`` 60): created if
        absent, replaced if unchanged since read. A block lives as long as its last minute."""
        if period == MINUTE:
            record = checked("MetricMinutesRecord", data)  # validated; built of plain values
            expires = data["start"] + HOUR + MINUTE_RETENTION_S
        else:
            record = stored("MetricRollupRecord", data)
            expires = data["start"] + HOUR_RETENTION_S
        item = Item(pk, sk, record, expires_at=expires)
        if found is None:
            return Put(item, if_absent=True)
        return Put(item, if_version=found.version)

    def transact(self, ops: Sequence[Put]) -> None:
        """Write rollups (all or none) and remember them for :meth:`current`."""
        written = self.store.transact(list(ops))
        recent = _written.setdefault(self.store, {})
        if len(recent) > _REMEMBER_WRITES:
            recent.clear()
        for item in written:
            recent[(item.pk, item.sk)] = item

    def transact_each(self, groups: Sequence[Sequence[Put]]) -> list[bool]:
        """Write several groups of rollups, each all or none on its own (one partition each), and
        remember what was written; for each group, whether it was (False: a concurrent writer
        changed one of its rollups since it was read)."""
        results = self.store.transact_each(groups)
        recent = _written.setdefault(self.store, {})
        if len(recent) > _REMEMBER_WRITES:
            recent.clear()
        out = []
        for result in results:
            if isinstance(result, AlreadyExists | VersionConflict):
                out.append(False)
                continue
            if isinstance(result, Exception):
                raise result
            for item in result:
                recent[(item.pk, item.sk)] = item
            out.append(True)
        return out

    def rollups(self, period: int, component: str, name: str, key: str, start: int, end: int) -> list[dict]:
        """The rollups of one series whose start lies in [start, end), in time order.

        Minutes: one read per day of the range (its blocks, at most 24 items). Hours: one read per
        day of the range, narrowed by its sort-key prefix, so a query decodes only what it answers
        with.
        """
        if period == MINUTE:
            return self._minutes(component, name, key, start, end)
        block = DAY
        out: list[dict] = []
        cursor = start - start % block
        while cursor < end:
            pk, sk = rollup_key(period, component, name, key, cursor)
            prefix = sk[:3]  # "HH:" of a minute's "HH:MM", "DDT" of an hour's "DDTHH"
            for item in self.store.query(pk, prefix, limit=100).items:
                if start <= item.data["start"] < end:
                    out.append(hour_rollup(item.data))
            cursor += block
        return out

    def _minutes(self, component: str, name: str, key: str, start: int, end: int) -> list[dict]:
        out: list[dict] = []
        for block, first, last in self._blocks(component, name, key, start, end):
            out.extend(minute_rollups(block, first, last))
        return out

    def minute_values(
        self, component: str, name: str, key: str, start: int, end: int, stat: str
    ) -> list[tuple[int, float | None]]:
        """``stat`` of each stored minute of one series whose start lies in [start, end), in time
        order, beside its start: decoded from the columns the statistic needs only (no histogram
        for a sum or a kept percentile; :func:`pilothouse.domain.metric_minutes.values`)."""
        out: list[tuple[int, float | None]] = []
        for block, first, last in self._blocks(component, name, key, start, end):
            hour = block["start"]
            mm, got = values(block_columns(block), stat)
            for m, value in zip(mm, got, strict=True):
                at = hour + m * MINUTE
                if first <= at < last:
                    out.append((at, value))
        return out

    def _blocks(
        self, component: str, name: str, key: str, start: int, end: int
    ) -> list[tuple[dict, int, int]]:
        """The stored minute blocks of one series overlapping [start, end), each with the part of
        the range in its day: one read per day of the range (its blocks, at most 24 items)."""
        out: list[tuple[dict, int, int]] = []
        day = start - start % DAY
        while day < end:
            pk, _ = rollup_key(MINUTE, component, name, key, day)
            first, last = max(start, day), min(end, day + DAY)
            lo = f"{BLOCK}{(first - day) // HOUR:02d}"
            for item in self.store.query(pk, BLOCK, limit=24).items:
                if item.sk >= lo and item.data["start"] < last:
                    out.append((item.data, first, last))
            day += DAY
        return out

    def block(self, component: str, name: str, key: str, hour: int) -> Item | None:
        """The stored minute block of one hour."""
        return self.store.get(*rollup_key(MINUTE, component, name, key, hour))

    # -- the collection sweep's cursor ------------------------------------------------------------

    def cursor(self, component: str) -> Item | None:
        return self.store.get(f"{COLLECTED}#{component}", "cursor")

    def advance_cursor(self, component: str, until: float, current: Item | None) -> bool:
        """Record that the component was measured up to ``until``; False if another sweep moved
        the cursor meanwhile (its datapoints and these were the same batches)."""
        data = stored("MetricCollectCursorRecord", {"component": component, "until": until})
        item = Item(f"{COLLECTED}#{component}", "cursor", data)
        try:
            if current is None:
                self.store.put(item, if_absent=True)
            else:
                self.store.put(item, if_version=current.version)
        except (AlreadyExists, VersionConflict):
            return False
        return True


def migrate_minutes(store: Store, partitions: set[str]) -> int:
    """Layout version 4: fold the minute items (``HH:MM``) of these ``METRIC_MIN#`` partitions into
    their hours' blocks (``H#HH``), then delete them; how many minute items were folded in.

    Resumable and never counting twice: a block that took its hour's old minutes is marked
    ``moved`` in the same write, and a rerun after a crash between that write and the deletes only
    deletes. Every write stays in the series' day partition.
    """
    moved = 0
    for pk in sorted(partitions):
        legacy = [i for i in store.scan_all(pk, page_size=1000) if not i.sk.startswith(BLOCK)]
        hours: dict[str, list[Item]] = {}
        for item in legacy:
            hours.setdefault(item.sk[:2], []).append(item)
        for hh, items in sorted(hours.items()):
            moved += _fold_legacy_hour(store, pk, hh, items)
            for offset in range(0, len(items), 25):
                store.transact([Delete(pk, i.sk) for i in items[offset : offset + 25]])
    return moved


def _fold_legacy_hour(store: Store, pk: str, hh: str, items: list[Item]) -> int:
    from pilothouse.domain.metric_histogram import merge, ordered
    from pilothouse.domain.metric_minutes import encode, minute, unpack

    sk = f"{BLOCK}{hh}"
    for _ in range(40):
        block = store.get(pk, sk)
        if block is not None and block.data.get("moved"):
            return 0  # folded in by an earlier run
        hour = items[0].data["start"] - items[0].data["start"] % HOUR
        minutes = decode(block_columns(block.data)) if block else {}
        for item in items:
            r = item.data
            mm = f"{(r['start'] - hour) // MINUTE:02d}"
            had = minutes.get(mm)
            old = metric_legacy.hist(r["hist"], r["min"], r["max"])  # the minute's own min/max
            if had is None:
                minutes[mm] = minute(r["count"], r["sum"], r["min"], r["max"], old)
            else:
                hist = ordered(merge(unpack(had[4]), old))
                low, high = min(had[2], r["min"]), max(had[3], r["max"])
                minutes[mm] = minute(had[0] + r["count"], had[1] + r["sum"], low, high, hist)
        data = {
            "start": hour,
            "period": MINUTE,
            "minutes": encode({mm: minutes[mm] for mm in sorted(minutes)}),
            "batches": block.data["batches"] if block else "",
            "moved": True,
            "buckets": metric_legacy.CURRENT,
        }
        try:
            store.transact([MetricRepository.write(MINUTE, pk, sk, data, block)])
            return len(items)
        except (AlreadyExists, VersionConflict):
            continue  # an ingest wrote the block meanwhile: fold again over its new state
    raise VersionConflict(f"{pk}/{sk} kept changing while its minutes were folded in")


def migrate_buckets(store: Store, partitions: set[str]) -> int:
    """Layout version 5: rewrite the minute blocks and hour rollups of these ``METRIC_MIN#`` /
    ``METRIC_HOUR#`` partitions whose histograms are spelled as in version 4 (a positive value below
    1 spelled like a negative one, :mod:`pilothouse.domain.metric_legacy`); how many it rewrote.

    An hour rollup whose hour's minute block is still kept (15 days) takes its histogram from the
    block's minutes (:func:`_hour_from_minutes`); an older one is respelled by its own min/max.
    Each item is rewritten alone, conditional on the version read, marked ``buckets: 5`` in the
    same write: a rerun, or a second migrator, skips what is marked, and a write that lost to
    another writer (an ingest, which writes today's codes and the mark too) reads the item again.
    Counts are only respelled, never added, so nothing is counted twice.
    """
    moved = 0
    for pk in sorted(partitions):
        for item in store.scan_all(pk, page_size=1000):
            if pk.startswith("METRIC_MIN#") and not item.sk.startswith(BLOCK):
                continue  # a version 3 minute item: migrate_minutes folds it
            moved += _respell(store, item)
    return moved


def _hour_from_minutes(store: Store, item: Item) -> dict[str, Any] | None:
    """An old hour rollup with its histogram merged again from its hour's minute block, where the
    block is still kept and counts what the rollup counts (its minutes' own min/max decide their
    ambiguous buckets, a far better guide than the hour's, which often spans both signs); None
    otherwise (a late datapoint added to the hour alone, or the minutes expired)."""
    from pilothouse.domain.metric_histogram import ordered
    from pilothouse.domain.metrics import combine, new_rollup

    data = item.data
    series = item.pk[len("METRIC_HOUR#") : item.pk.rindex("#")]
    _, day, sk = _spelled(True, data["start"])
    block = store.get(f"METRIC_MIN#{series}#{day}", sk)
    if block is None:
        return None
    total = new_rollup()
    for m in minute_rollups(block.data, data["start"], data["start"] + HOUR):
        combine(total, m)
    if total["count"] != data["count"]:
        return None
    return {**data, "hist": ordered(total["hist"]), "buckets": metric_legacy.CURRENT}


def _respell(store: Store, first: Item) -> int:
    found: Item | None = first
    for _ in range(40):
        if found is None or metric_legacy.current(found.data):
            return 0
        data = dict(found.data)
        if data["period"] == MINUTE:
            data["minutes"] = metric_legacy.columns(data["minutes"])
            data["buckets"] = metric_legacy.CURRENT
        else:
            data = _hour_from_minutes(store, found) or hour_rollup(data)
        try:
            store.transact([MetricRepository.write(data["period"], found.pk, found.sk, data, found)])
            return 1
        except (AlreadyExists, VersionConflict):
            found = store.get(found.pk, found.sk)  # written meanwhile: look again
    raise VersionConflict(f"{first.pk}/{first.sk} kept changing while its histograms were respelled")
