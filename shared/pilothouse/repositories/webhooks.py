"""Inbound webhook sources, their secrets and their deliveries on the storage port.

=====================  ====================================  ==========================================
partition (pk)         sort key (sk)                         what
=====================  ====================================  ==========================================
``WEBHOOK``            ``S#<name>``                          a source: kind, rules (no secret)
``WEBHOOK``            ``K#<name>``                          its signing secret
``WEBHOOK#<source>``   ``D#<delivery id>``                   a delivery (absent-only: de-duplicates)
``WEBHOOK#<source>``   ``L#<epoch ms, 15 digits>#<id>``      the deliveries in time order
=====================  ====================================  ==========================================

A source and its secret share the ``WEBHOOK`` partition, a delivery and its log entry the source's
own, so each write is a transaction of one partition (``Store.transaction_scope``). The layout
before (``WEBHOOKSOURCE``, ``WEBHOOKSECRET``, ``WEBHOOKDELIVERY#<source>``,
``WEBHOOKLOG#<source>``) is moved by :func:`migrate_legacy`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pilothouse.domain.records import stored
from pilothouse.errors import NotFound
from pilothouse.ports import Delete, Item, Page, Put, Store

PK = "WEBHOOK"
SOURCE = "S#"
SECRET = "K#"
DELIVERY = "D#"
LOG = "L#"
#: the partitions of the layout before (version 2)
LEGACY_SOURCES = "WEBHOOKSOURCE"
LEGACY_SECRETS = "WEBHOOKSECRET"
LEGACY_DELIVERIES = "WEBHOOKDELIVERY#"
LEGACY_LOG = "WEBHOOKLOG#"


def source_pk(source: str) -> str:
    """A source's own partition: its deliveries and their log."""
    return f"WEBHOOK#{source}"


def _page(page: Page, prefix: str) -> Page:
    """``page`` with the items' sort keys as the older layout had them (the name or id alone)."""
    return Page([replace(i, sk=i.sk[len(prefix) :]) for i in page.items], page.cursor)


class WebhookRepository:
    """Sources, secrets, deliveries. ``get`` answers None, ``require`` raises NotFound. A source
    item's ``sk`` is its name."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, name: str) -> Item | None:
        item = self.store.get(PK, SOURCE + name)
        return replace(item, sk=name) if item else None

    def require(self, name: str) -> Item:
        item = self.get(name)
        if item is None:
            raise NotFound(f"no webhook source is named {name[:100]!r}")
        return item

    def secret(self, name: str) -> str | None:
        item = self.store.get(PK, SECRET + name)
        return item.data["secret"] if item is not None else None

    def create(self, data: dict[str, Any], secret: dict[str, Any]) -> None:
        """The source and its secret in one transaction (AlreadyExists if the name is taken)."""
        self.store.transact(
            [
                Put(Item(PK, SOURCE + data["name"], stored("WebhookSourceRecord", data)), if_absent=True),
                Put(Item(PK, SECRET + data["name"], stored("WebhookSecretRecord", secret))),
            ]
        )

    def save(self, item: Item, data: dict[str, Any], secret: dict[str, Any] | None = None) -> None:
        """Replace the source if unchanged since read (and its secret, when rotating)."""
        writes: list[Put] = [
            Put(Item(PK, SOURCE + item.sk, stored("WebhookSourceRecord", data)), if_version=item.version)
        ]
        if secret is not None:
            writes.append(Put(Item(PK, SECRET + item.sk, stored("WebhookSecretRecord", secret))))
        self.store.transact(writes)

    def delete(self, item: Item) -> None:
        self.store.transact(
            [Delete(PK, SOURCE + item.sk, if_version=item.version), Delete(PK, SECRET + item.sk)]
        )

    def page(self, *, limit: int, cursor: str | None) -> Page:
        return _page(self.store.query(PK, SOURCE, limit=limit, cursor=cursor), SOURCE)

    # -- deliveries -------------------------------------------------------------------------------

    def add_delivery(self, data: dict[str, Any]) -> None:
        """Record a new delivery; AlreadyExists when its id was delivered before."""
        ms = int(data["received_epoch"] * 1000)
        pk = source_pk(data["source"])
        self.store.transact(
            [
                Put(Item(pk, DELIVERY + data["id"], stored("WebhookDeliveryRecord", data)), if_absent=True),
                Put(Item(pk, f"{LOG}{ms:015d}#{data['id']}", {"id": data["id"]}), if_absent=True),
            ]
        )

    def delivery(self, source: str, delivery_id: str) -> Item | None:
        return self.store.get(source_pk(source), DELIVERY + delivery_id)

    def save_delivery(self, item: Item, data: dict[str, Any]) -> Item:
        return self.store.put(
            Item(item.pk, item.sk, stored("WebhookDeliveryRecord", data)), if_version=item.version
        )

    def deliveries(
        self, source: str, *, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The deliveries, newest first."""
        page = self.store.query(source_pk(source), LOG, limit=limit, cursor=cursor, reverse=True)
        found = [self.delivery(source, entry.data["id"]) for entry in page.items]
        return [d.data for d in found if d is not None], page.cursor


def _move(store: Store, item: Item, pk: str, sk: str) -> int:
    """Copy ``item`` to ``pk``/``sk`` (version kept; an item already there wins), then delete it."""
    moved = 0
    if store.get(pk, sk) is None:
        store.load([replace(item, pk=pk, sk=sk)])
        moved = 1
    store.delete(item.pk, item.sk)
    return moved


def migrate_legacy(store: Store, partitions: set[str]) -> int:
    """Move sources, secrets, deliveries and their log of the layout before (``partitions``: the
    ``WEBHOOKDELIVERY#``/``WEBHOOKLOG#`` partitions found) to their places; idempotent and
    resumable (each item is deleted only once its copy is there). How many items it moved."""
    moved = 0
    for item in store.scan_all(LEGACY_SOURCES):
        moved += _move(store, item, PK, SOURCE + item.sk)
    for item in store.scan_all(LEGACY_SECRETS):
        moved += _move(store, item, PK, SECRET + item.sk)
    for pk in sorted(partitions):
        source = pk.split("#", 1)[1]
        prefix = DELIVERY if pk.startswith(LEGACY_DELIVERIES) else LOG
        for item in store.scan_all(pk):
            moved += _move(store, item, source_pk(source), prefix + item.sk)
    return moved
