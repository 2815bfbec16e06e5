"""The metrics repository: series and their rollups on the storage port.

- ``METRIC_SERIES`` / ``<component>#<metric>#<key>``: a series (component, name, dimensions, unit);
- ``METRIC_MIN#<component>#<metric>#<key>#<YYYY-MM-DD>`` / ``HH:MM``: a minute rollup (15 days);
- ``METRIC_COLLECT`` / ``<component>``: how far the collection sweep measured the component;
- ``METRIC_HOUR#<component>#<metric>#<key>#<YYYY-MM>`` / ``DDTHH``: an hour rollup (400 days).

Rollups are partitioned per series and per day (minutes) or month (hours), so the fleet's writes
spread over as many partitions as there are series, and a query reads one partition per day.
The series index is written once per new series, never per datapoint.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pilothouse.domain.metrics import HOUR_RETENTION_S, MINUTE_RETENTION_S
from pilothouse.domain.records import stored
from pilothouse.errors import AlreadyExists, VersionConflict
from pilothouse.ports import Item, Put, Store

SERIES = "METRIC_SERIES"
COLLECTED = "METRIC_COLLECT"

#: the series each store is known to hold already, so an ingest reads the index only for new ones
#: (an entry is only ever added after the series record is there; a forgotten series leaves it)
_known: weakref.WeakKeyDictionary[Store, set[str]] = weakref.WeakKeyDictionary()
#: the rollups this process wrote last, per store (see MetricRepository.current)
_written: weakref.WeakKeyDictionary[Store, dict[tuple[str, str], Item]] = weakref.WeakKeyDictionary()
_REMEMBER_WRITES = 20_000
MINUTE, HOUR = 60, 3600


def rollup_key(period: int, component: str, name: str, key: str, start: int) -> tuple[str, str]:
    """The (partition, sort key) of the rollup of ``period`` seconds starting at ``start``."""
    moment = datetime.fromtimestamp(start, UTC)
    if period == MINUTE:
        return f"METRIC_MIN#{component}#{name}#{key}#{moment:%Y-%m-%d}", f"{moment:%H:%M}"
    return f"METRIC_HOUR#{component}#{name}#{key}#{moment:%Y-%m}", f"{moment:%dT%H}"


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
        """The conditional write of a rollup: created if absent, replaced if unchanged since read."""
        keep = MINUTE_RETENTION_S if period == MINUTE else HOUR_RETENTION_S
        item = Item(pk, sk, stored("MetricRollupRecord", data), expires_at=data["start"] + keep)
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

    def rollups(self, period: int, component: str, name: str, key: str, start: int, end: int) -> list[dict]:
        """The rollups of one series whose start lies in [start, end), in time order.

        One read per hour (minute rollups) or per day (hour rollups) of the range, each narrowed by
        its sort-key prefix, so a query decodes only the rollups it answers with.
        """
        block = 3600 if period == MINUTE else 86400
        out: list[dict] = []
        cursor = start - start % block
        while cursor < end:
            pk, sk = rollup_key(period, component, name, key, cursor)
            prefix = sk[:3]  # "HH:" of a minute's "HH:MM", "DDT" of an hour's "DDTHH"
            for item in self.store.query(pk, prefix, limit=100).items:
                if start <= item.data["start"] < end:
                    out.append(item.data)
            cursor += block
        return out

    # -- the collection sweep's cursor ------------------------------------------------------------

    def cursor(self, component: str) -> Item | None:
        return self.store.get(COLLECTED, component)

    def advance_cursor(self, component: str, until: float, current: Item | None) -> bool:
        """Record that the component was measured up to ``until``; False if another sweep moved
        the cursor meanwhile (its datapoints and these were the same batches)."""
        item = Item(
            COLLECTED,
            component,
            stored("MetricCollectCursorRecord", {"component": component, "until": until}),
        )
        try:
            if current is None:
                self.store.put(item, if_absent=True)
            else:
                self.store.put(item, if_version=current.version)
        except (AlreadyExists, VersionConflict):
            return False
        return True
