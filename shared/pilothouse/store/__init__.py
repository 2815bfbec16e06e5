"""The storage adapters: the Store port's base and one adapter per backend (memory, sqlite, dynamodb).

The entity repositories over the port live in :mod:`pilothouse.repositories`."""

from pilothouse.store.base import Check, Delete, Item, Page, Put, Store

__all__ = ["Check", "Delete", "Item", "Page", "Put", "Store"]
