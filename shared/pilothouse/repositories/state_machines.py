"""What the Step Functions-compatible endpoint knows of a workflow beyond its definition.

=================  ===========  =========================================================
partition          sort key     what
=================  ===========  =========================================================
``SFNMACHINE``     ``<name>``   type (STANDARD / EXPRESS), role ARN, logging and tracing
                                configuration, and the published versions (version number →
                                the workflow's own version, which Step Functions calls a revision)
=================  ===========  =========================================================

A workflow created through ``/v1/workflows`` has no such record: it reads as a STANDARD state
machine with the default role and no published versions.
"""

from __future__ import annotations

from typing import Any

from pilothouse.ports import Item, Store

PK = "SFNMACHINE"


class StateMachineRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, name: str) -> Item | None:
        return self.store.get(PK, name)

    def put(self, name: str, data: dict[str, Any], *, if_version: int | None = None) -> Item:
        """Write the record (VersionConflict if ``if_version`` is given and it changed meanwhile)."""
        return self.store.put(Item(PK, name, data), if_version=if_version)

    def create(self, name: str, data: dict[str, Any]) -> Item:
        """Write the record of a new state machine (AlreadyExists if one exists)."""
        return self.store.put(Item(PK, name, data), if_absent=True)

    def delete(self, name: str) -> None:
        self.store.delete(PK, name)
