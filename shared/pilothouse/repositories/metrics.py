"""The metrics repository: series and their rollups on the storage port.

- ``METRIC_SERIES`` / ``<component>#<metric>#<key>``: a series (component, name, dimensions, unit);
- ``METRIC_MIN#<component>#<metric>#<key>#<YYYY-MM-DD>`` / ``HH:MM``: a minute rollup (15 days);
- ``METRIC_HOUR#<component>#<metric>#<key>#<YYYY-MM>`` / ``DDTHH``: an hour rollup (400 days).

Rollups are partitioned per series and per day (minutes) or month (hours), so the fleet's writes
spread over as many partitions as there are series, and a query reads one partition per day.
The series index is written once per new series, never per datapoint.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pilothouse.domain.metrics import HOUR_RETENTION_S, MINUTE_RETENTION_S
from pilothouse.domain.records import stored
from pilothouse.errors import AlreadyExists
from pilothouse.ports import Item, Put, Store

SERIES = "METRIC_SERIES"
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
        return self.store.get(SERIES, f"{component}#{name}#{key}") is not None

    def add_series(self, data: dict[str, Any]) -> None:
        """Record a series once (a concurrent writer of the same series is fine)."""
        sk = f"{data['component']}#{data['name']}#{data['key']}"
        with contextlib.suppress(AlreadyExists):
            self.store.put(Item(SERIES, sk, stored("MetricSeriesRecord", data)), if_absent=True)

    def forget_series(self, component: str) -> int:
        """Drop a component's series from the index (its rollups expire by themselves)."""
        items = self.store.scan_all(SERIES, f"{component}#", page_size=1000)
        for item in items:
            self.store.delete(SERIES, item.sk)
        return len(items)

    # -- rollups ----------------------------------------------------------------------------------

    def current(self, keys: Sequence[tuple[str, str]]) -> list[Item | None]:
        return [self.store.get(pk, sk) for pk, sk in keys]

    @staticmethod
    def write(period: int, pk: str, sk: str, data: dict[str, Any], found: Item | None) -> Put:
        """The conditional write of a rollup: created if absent, replaced if unchanged since read."""
        keep = MINUTE_RETENTION_S if period == MINUTE else HOUR_RETENTION_S
        item = Item(pk, sk, stored("MetricRollupRecord", data), expires_at=data["start"] + keep)
        if found is None:
            return Put(item, if_absent=True)
        return Put(item, if_version=found.version)

    def transact(self, ops: Sequence[Put]) -> None:
        self.store.transact(list(ops))

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
