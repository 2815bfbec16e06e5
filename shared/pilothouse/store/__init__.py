"""The repository layer: one small storage port, an adapter per backend, entity repositories on top."""

from pilothouse.store.base import Check, Delete, Item, Page, Put, Store

__all__ = ["Check", "Delete", "Item", "Page", "Put", "Store"]
