"""Workflow definitions and executions on the storage port.

=========================  ===========================  ============================================
partition (pk)             sort key (sk)                what
=========================  ===========================  ============================================
``WORKFLOW``               ``<name>``                   the workflow: latest version and definition
``WFVER#<name>``           ``<version, 8 digits>``      each published version (immutable)
``EXEC#<workflow>``        ``<execution name>``         an execution: status, step, engine state
``EXECHIST#<wf>#<name>``   ``<event id, 8 digits>``     its history events (drained from the state)
``EXECRUNNING``            ``<workflow>#<name>``        executions not yet finished (for the sweep)
``TASKTOKEN``              ``<token>``                  a callback token → its execution and task
=========================  ===========================  ============================================
"""

from __future__ import annotations

from typing import Any

from pilothouse.domain.records import stored
from pilothouse.errors import NotFound
from pilothouse.ports import Delete, Item, Page, Put, Store

WORKFLOW = "WORKFLOW"
RUNNING = "EXECRUNNING"
TOKEN = "TASKTOKEN"


def versions_pk(name: str) -> str:
    return f"WFVER#{name}"


def version_sk(version: int) -> str:
    return f"{version:08d}"


def executions_pk(workflow: str) -> str:
    return f"EXEC#{workflow}"


def history_pk(workflow: str, name: str) -> str:
    return f"EXECHIST#{workflow}#{name}"


def history_sk(event_id: int) -> str:
    return f"{event_id:08d}"


def running_sk(workflow: str, name: str) -> str:
    return f"{workflow}#{name}"


class WorkflowRepository:
    """Workflows and their published versions. ``get`` answers None for an unknown name,
    ``require`` raises NotFound."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, name: str) -> Item | None:
        return self.store.get(WORKFLOW, name)

    def require(self, name: str) -> Item:
        item = self.store.get(WORKFLOW, name)
        if item is None:
            raise NotFound(f"no workflow named {name!r}")
        return item

    def create(self, data: dict[str, Any], version: dict[str, Any]) -> None:
        """Insert the workflow and its first version (AlreadyExists if the name is taken)."""
        self.store.transact(
            [
                Put(Item(WORKFLOW, data["name"], data), if_absent=True),
                Put(Item(versions_pk(data["name"]), version_sk(version["version"]), version), if_absent=True),
            ]
        )

    def publish(self, item: Item, data: dict[str, Any], version: dict[str, Any]) -> None:
        """Replace the workflow read as ``item`` and add ``version`` (VersionConflict or
        AlreadyExists if someone published meanwhile)."""
        self.store.transact(
            [
                Put(Item(WORKFLOW, item.sk, data), if_version=item.version),
                Put(Item(versions_pk(item.sk), version_sk(version["version"]), version), if_absent=True),
            ]
        )

    def version(self, name: str, version: int) -> Item | None:
        return self.store.get(versions_pk(name), version_sk(version))

    def page(self, *, limit: int, cursor: str | None) -> Page:
        return self.store.query(WORKFLOW, limit=limit, cursor=cursor)

    def versions(self, name: str, *, limit: int, cursor: str | None) -> Page:
        """Newest first."""
        return self.store.query(versions_pk(name), limit=limit, cursor=cursor, reverse=True)

    def delete(self, item: Item) -> None:
        """Delete the workflow read as ``item`` (if unchanged) and then its versions."""
        self.store.delete(WORKFLOW, item.sk, if_version=item.version)
        for ver in self.store.scan_all(versions_pk(item.sk)):
            self.store.transact([Delete(ver.pk, ver.sk)])


class ExecutionRepository:
    """Executions of the embedded engine and their history. ``get`` answers None for an unknown
    execution, ``require`` raises NotFound. (Advancing a running execution is the executor's
    conditional write in :mod:`pilothouse.services.execution_steps`.)"""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, workflow: str, name: str) -> Item | None:
        return self.store.get(executions_pk(workflow), name)

    def require(self, workflow: str, name: str) -> Item:
        item = self.store.get(executions_pk(workflow), name)
        if item is None:
            raise NotFound(f"no execution {name!r} of workflow {workflow!r}")
        return item

    def create(self, data: dict[str, Any], first_events: list[dict[str, Any]]) -> None:
        """Insert the execution, its first history events and its running marker (Conflict if the
        name is taken)."""
        workflow, name = data["workflow"], data["name"]
        self.store.transact(
            [
                Put(Item(executions_pk(workflow), name, stored("ExecutionRecord", data)), if_absent=True),
                Put(
                    Item(
                        history_pk(workflow, name),
                        history_sk(first_events[0]["id"]),
                        {"events": first_events},
                    ),
                    if_absent=True,
                ),
                Put(Item(RUNNING, running_sk(workflow, name), {"workflow": workflow, "name": name})),
            ]
        )

    def page(self, workflow: str, *, limit: int, cursor: str | None) -> Page:
        return self.store.query(executions_pk(workflow), limit=limit, cursor=cursor)

    def history(self, workflow: str, name: str, *, limit: int, cursor: str | None, reverse: bool) -> Page:
        """History items, each holding the ``events`` of one step."""
        return self.store.query(history_pk(workflow, name), limit=limit, cursor=cursor, reverse=reverse)
