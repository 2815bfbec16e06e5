"""Notification channels and their deliveries on the storage port.

===========================  ===================================  ==================================
partition (pk)               sort key (sk)                        what
===========================  ===================================  ==================================
``NOTIFY_CHANNEL``           ``<name>``                           a channel (URL and secret sealed)
``NOTIFY_DELIVERY#<name>``   ``<event epoch ms, 15>-<hash 16>``   one event's delivery to it (its id)
===========================  ===================================  ==================================

A delivery's id is made from the event's time and a hash of the event's id and the channel's id,
so dispatching one event twice finds the delivery it made the first time (``if_absent``), and the
log lists deliveries in event order. Deliveries expire after :data:`DELIVERY_TTL_DAYS`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from pilothouse.clock import iso
from pilothouse.domain.records import stored
from pilothouse.errors import AlreadyExists, Conflict, NotFound, VersionConflict
from pilothouse.ports import Item, Store

CHANNEL_PK = "NOTIFY_CHANNEL"
DELIVERY_TTL_DAYS = 30
ATTEMPTS = 10


def deliveries_pk(channel: str) -> str:
    return f"NOTIFY_DELIVERY#{channel}"


def delivery_id(event: dict[str, Any], channel_id: str, at_epoch: float) -> str:
    """The stable id of ``event``'s delivery to a channel."""
    digest = hashlib.sha256(f"{event['id']}\x00{channel_id}".encode()).hexdigest()[:16]
    return f"{int(at_epoch * 1000):015d}-{digest}"


class ChannelRepository:
    """Channels by name. ``get`` answers None for an unknown name, ``require`` raises NotFound."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, name: str) -> dict[str, Any] | None:
        item = self.store.get(CHANNEL_PK, name)
        return item.data if item else None

    def require(self, name: str) -> dict[str, Any]:
        data = self.get(name)
        if data is None:
            raise NotFound(f"no notification channel named {name[:100]!r}")
        return data

    def create(self, data: dict[str, Any]) -> dict[str, Any]:
        try:
            self.store.put(
                Item(CHANNEL_PK, data["name"], stored("NotificationChannelRecord", data)), if_absent=True
            )
        except AlreadyExists:
            raise AlreadyExists(f"a notification channel named {data['name']!r} exists") from None
        return data

    def delete(self, name: str) -> None:
        item = self.store.get(CHANNEL_PK, name)
        if item is None:
            raise NotFound(f"no notification channel named {name[:100]!r}")
        self.store.delete(CHANNEL_PK, name, if_version=item.version)

    def all(self) -> list[dict[str, Any]]:
        return [i.data for i in self.store.scan_all(CHANNEL_PK)]


class DeliveryRepository:
    """Deliveries of one channel, newest first in the log."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _expiry(self) -> float:
        return self.store.clock.time() + DELIVERY_TTL_DAYS * 86400

    def get(self, channel: str, delivery: str) -> Item | None:
        return self.store.get(deliveries_pk(channel), delivery)

    def require(self, channel: str, delivery: str) -> Item:
        item = self.get(channel, delivery)
        if item is None:
            raise NotFound(f"no delivery {delivery[:40]!r} on channel {channel[:100]!r}")
        return item

    def create(self, data: dict[str, Any]) -> tuple[Item, bool]:
        """Write a new delivery; (the delivery, True), or (the one there already, False)."""
        item = Item(
            deliveries_pk(data["channel"]),
            data["id"],
            stored("NotificationDeliveryRecord", data),
            expires_at=self._expiry(),
        )
        try:
            return self.store.put(item, if_absent=True), True
        except AlreadyExists:
            return self.require(data["channel"], data["id"]), False

    def change(
        self,
        channel: str,
        delivery: str,
        mutate: Callable[[dict[str, Any]], bool],
        *,
        version: int | None = None,
    ) -> Item | None:
        """Apply ``mutate`` (False: no change) with a conditional write, re-reading on conflicts.
        With ``version``, only that version may be changed (None answered if it moved on)."""
        for _ in range(ATTEMPTS):
            item = self.require(channel, delivery)
            if version is not None and item.version != version:
                return None
            data = dict(item.data)
            if not mutate(data):
                return None
            data["updated_at"] = iso(self.store.clock.time())
            try:
                return self.store.put(
                    Item(
                        item.pk,
                        item.sk,
                        stored("NotificationDeliveryRecord", data),
                        expires_at=self._expiry(),
                    ),
                    if_version=item.version,
                )
            except VersionConflict:
                if version is not None:
                    return None
        raise Conflict(f"delivery {delivery!r} is too busy; retry")

    def list(
        self, channel: str, *, limit: int, cursor: str | None, status: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        out: list[dict[str, Any]] = []
        while True:
            page = self.store.query(
                deliveries_pk(channel), limit=limit - len(out), cursor=cursor, reverse=True
            )
            out += [i.data for i in page.items if status is None or i.data["status"] == status]
            cursor = page.cursor
            if len(out) >= limit or cursor is None:
                return out, cursor
