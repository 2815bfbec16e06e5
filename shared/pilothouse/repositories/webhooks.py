"""Inbound webhook sources, their secrets and their deliveries on the storage port.

=============================  ===============================  ====================================
partition (pk)                 sort key (sk)                    what
=============================  ===============================  ====================================
``WEBHOOKSOURCE``              ``<name>``                       a source: kind, rules (no secret)
``WEBHOOKSECRET``              ``<name>``                       its signing secret
``WEBHOOKDELIVERY#<source>``   ``<delivery id>``                a delivery (absent-only: de-duplicates)
``WEBHOOKLOG#<source>``        ``<epoch ms, 15 digits>#<id>``   the deliveries in time order
=============================  ===============================  ====================================
"""

from __future__ import annotations

from typing import Any

from pilothouse.domain.records import stored
from pilothouse.errors import NotFound
from pilothouse.ports import Delete, Item, Page, Put, Store

SOURCES = "WEBHOOKSOURCE"
SECRETS = "WEBHOOKSECRET"


def deliveries_pk(source: str) -> str:
    return f"WEBHOOKDELIVERY#{source}"


def log_pk(source: str) -> str:
    return f"WEBHOOKLOG#{source}"


class WebhookRepository:
    """Sources, secrets, deliveries. ``get`` answers None, ``require`` raises NotFound."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, name: str) -> Item | None:
        return self.store.get(SOURCES, name)

    def require(self, name: str) -> Item:
        item = self.get(name)
        if item is None:
            raise NotFound(f"no webhook source is named {name[:100]!r}")
        return item

    def secret(self, name: str) -> str | None:
        item = self.store.get(SECRETS, name)
        return item.data["secret"] if item is not None else None

    def create(self, data: dict[str, Any], secret: dict[str, Any]) -> None:
        """The source and its secret in one transaction (AlreadyExists if the name is taken)."""
        self.store.transact(
            [
                Put(Item(SOURCES, data["name"], stored("WebhookSourceRecord", data)), if_absent=True),
                Put(Item(SECRETS, data["name"], stored("WebhookSecretRecord", secret))),
            ]
        )

    def save(self, item: Item, data: dict[str, Any], secret: dict[str, Any] | None = None) -> None:
        """Replace the source if unchanged since read (and its secret, when rotating)."""
        writes: list[Put] = [
            Put(Item(SOURCES, item.sk, stored("WebhookSourceRecord", data)), if_version=item.version)
        ]
        if secret is not None:
            writes.append(Put(Item(SECRETS, item.sk, stored("WebhookSecretRecord", secret))))
        self.store.transact(writes)

    def delete(self, item: Item) -> None:
        self.store.transact([Delete(SOURCES, item.sk, if_version=item.version), Delete(SECRETS, item.sk)])

    def page(self, *, limit: int, cursor: str | None) -> Page:
        return self.store.query(SOURCES, limit=limit, cursor=cursor)

    # -- deliveries -------------------------------------------------------------------------------

    def add_delivery(self, data: dict[str, Any]) -> None:
        """Record a new delivery; AlreadyExists when its id was delivered before."""
        ms = int(data["received_epoch"] * 1000)
        self.store.transact(
            [
                Put(
                    Item(deliveries_pk(data["source"]), data["id"], stored("WebhookDeliveryRecord", data)),
                    if_absent=True,
                ),
                Put(
                    Item(log_pk(data["source"]), f"{ms:015d}#{data['id']}", {"id": data["id"]}),
                    if_absent=True,
                ),
            ]
        )

    def delivery(self, source: str, delivery_id: str) -> Item | None:
        return self.store.get(deliveries_pk(source), delivery_id)

    def save_delivery(self, item: Item, data: dict[str, Any]) -> Item:
        return self.store.put(
            Item(item.pk, item.sk, stored("WebhookDeliveryRecord", data)), if_version=item.version
        )

    def deliveries(
        self, source: str, *, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The deliveries, newest first."""
        page = self.store.query(log_pk(source), limit=limit, cursor=cursor, reverse=True)
        found = [self.delivery(source, entry.data["id"]) for entry in page.items]
        return [d.data for d in found if d is not None], page.cursor
