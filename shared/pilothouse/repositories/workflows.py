"""Workflow definitions and executions on the storage port.

=========================  ===========================  ============================================
partition (pk)             sort key (sk)                what
=========================  ===========================  ============================================
``WORKFLOW``               ``<name>``                   the workflow: latest version and definition
``WFVER#<name>``           ``<version, 8 digits>``      each published version (immutable; a copy
                                                        of the workflow as it was published)
``EXECUTION#<wf>#<name>``  ``RECORD``                   an execution: status, step, engine state
``EXECUTION#<wf>#<name>``  ``HIST#<event id, 8 digits>`` its history events (drained from the state)
``EXECUTION#<wf>#<name>``  ``STATE#<chunk id>``          a large map run's items or results, named by
                                                        the record's state (immutable; see
                                                        :mod:`~pilothouse.repositories.execution_chunks`)
``EXECUTION#<wf>#<name>``  ``BODY#<piece id>``           a large record's body (state, input, output),
                                                        named by its head (immutable; see
                                                        :mod:`~pilothouse.repositories.execution_bodies`)
``EXECUTION#<wf>#<name>``  ``HISTPART#<piece id>``       a large history item's events, named by it
``EXECUTION#<wf>#<name>``  ``DEF#<hash>``                the definition it runs, named by its state
                                                        (immutable; see
                                                        :mod:`~pilothouse.repositories.execution_chunks`)
``EXEC#<workflow>``        ``<execution name>``         the listing entry: the execution's summary
                                                        (:func:`summary`; derived)
``EXECRUNNING``            ``<workflow>#<name>``        executions not yet finished (for the sweep;
                                                        ``at``: when it was written)
=========================  ===========================  ============================================

A workflow's record decides who publishes a version (a conditional write); the version's own item
is a copy written right after, and a crash in between is repaired before the next publish (and by
:meth:`WorkflowRepository.versions`): the record holds everything the copy needs, and reads of the
latest version read the record itself.

A step of an execution writes its record and the history the step drained in one transaction of
the execution's own partition (every store commits that, Azure Tables included). The rest is
derived, with a repair for a crash between the writes:

- the running entry is written *before* the transaction that starts (or redrives) an execution and
  deleted *after* the one that ends it, so no running execution lacks one; the execution sweep
  drops an entry whose execution has ended, or does not exist and is older than
  :data:`RUNNING_GRACE` (its start failed);
- the listing entry is synced (:func:`pilothouse.repositories.derived.sync`) after each step that
  changes the summary, and by the execution sweep for every running entry: a crash between the
  commit and the sync is repaired on the sweep's next run, since the running entry is deleted only
  after the sync. An entry whose record is gone becomes a tombstone, which listings skip.

Executions of the layout before per-execution partitions are moved by
:func:`pilothouse.services.migrations.migrate`.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pilothouse.domain.records import stored
from pilothouse.errors import AlreadyExists, NotFound
from pilothouse.ports import Delete, Item, Page, Put, Store
from pilothouse.repositories import execution_bodies as bodies
from pilothouse.repositories.derived import MAX_OPERATIONS, live_page, sync
from pilothouse.repositories.execution_chunks import pack_definition

WORKFLOW = "WORKFLOW"
RUNNING = "EXECRUNNING"
RECORD_SK = "RECORD"
HISTORY_PREFIX = "HIST#"
#: a running entry younger than this whose execution does not exist may be a start under way
RUNNING_GRACE = 900.0
#: what an execution's listing entry copies
SUMMARY_KEYS = (
    "arn",
    "name",
    "workflow",
    "workflow_version",
    "status",
    "start_date",
    "stop_date",
    "redrive_count",
    "sm_version",
    "sm_alias",
)


def versions_pk(name: str) -> str:
    return f"WFVER#{name}"


def version_sk(version: int) -> str:
    return f"{version:08d}"


def executions_pk(workflow: str) -> str:
    """The listing partition of a workflow's executions."""
    return f"EXEC#{workflow}"


def execution_pk(workflow: str, name: str) -> str:
    """An execution's own partition: its record and its history."""
    return f"EXECUTION#{workflow}#{name}"


def legacy_history_pk(workflow: str, name: str) -> str:
    """Where the layout before per-execution partitions kept an execution's history."""
    return f"EXECHIST#{workflow}#{name}"


def history_sk(event_id: int) -> str:
    return f"{HISTORY_PREFIX}{event_id:08d}"


def summary(data: dict[str, Any]) -> dict[str, Any]:
    """The listing entry of an execution's record."""
    return {k: data.get(k) for k in SUMMARY_KEYS}


def running_put(workflow: str, name: str, now: float) -> Item:
    """The running entry of an execution (written before the transaction that starts it)."""
    return Item(RUNNING, running_sk(workflow, name), {"workflow": workflow, "name": name, "at": now})


def sync_listing(store: Store, workflow: str, name: str) -> None:
    """Bring an execution's listing entry in step with its record (idempotent)."""

    def entry() -> dict[str, Any] | None:
        item = store.get(execution_pk(workflow, name), RECORD_SK)
        return summary(item.data) if item else None

    sync(store, executions_pk(workflow), name, entry)


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
        """Insert the workflow (AlreadyExists if the name is taken), then its first version."""
        self.store.put(Item(WORKFLOW, data["name"], data), if_absent=True)
        # unconditional: a version 1 a crashed deletion left behind is replaced
        self.store.put(Item(versions_pk(data["name"]), version_sk(version["version"]), version))

    def publish(self, item: Item, data: dict[str, Any], version: dict[str, Any]) -> None:
        """Replace the workflow read as ``item`` (VersionConflict if someone published meanwhile),
        then add ``version``; the version read first gets its copy if a crash kept it from one."""
        self._copy(item)
        self.store.put(Item(WORKFLOW, item.sk, data), if_version=item.version)
        self.store.put(Item(versions_pk(item.sk), version_sk(version["version"]), version))

    def _copy(self, item: Item) -> None:
        """Write the version item of the workflow ``item`` unless it is there (a repair)."""
        d = item.data
        version = {
            "version": d["version"],
            "definition": d["definition"],
            "created_at": d.get("updated_at") or d.get("created_at"),
            "created_by": d.get("updated_by") or d.get("created_by"),
            "description": d.get("description", ""),
        }
        with contextlib.suppress(AlreadyExists):
            self.store.put(Item(versions_pk(item.sk), version_sk(d["version"]), version), if_absent=True)

    def version(self, name: str, version: int) -> Item | None:
        return self.store.get(versions_pk(name), version_sk(version))

    def page(self, *, limit: int, cursor: str | None) -> Page:
        return self.store.query(WORKFLOW, limit=limit, cursor=cursor)

    def versions(self, name: str, *, limit: int, cursor: str | None) -> Page:
        """Newest first (the latest one's copy written first, if a crash kept it from one)."""
        if cursor is None and (item := self.get(name)) is not None:
            self._copy(item)
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
        """The record whole (a large one's body read back in, :mod:`.execution_bodies`)."""
        return bodies.read(self.store, execution_pk(workflow, name), RECORD_SK)

    def require(self, workflow: str, name: str) -> Item:
        item = self.get(workflow, name)
        if item is None:
            raise NotFound(f"no execution {name!r} of workflow {workflow!r}")
        return item

    def create(self, data: dict[str, Any], first_events: list[dict[str, Any]]) -> None:
        """Insert the execution and its first history events (Conflict if the name is taken); its
        running entry first, its listing entry after (see the module's docstring), or both in the
        record's own transaction where the store's transactions span partitions (as
        :func:`pilothouse.repositories.derived.commit` writes a record's derived entries: the
        record's ``if_absent`` orders them). A record or history item too large for one stored
        item is stored in pieces (:mod:`.execution_bodies`: the writer sets ``text_seen``, the
        text its first events carry)."""
        workflow, name = data["workflow"], data["name"]
        running = running_put(workflow, name, self.store.clock.time())
        pk = execution_pk(workflow, name)
        state, definition = pack_definition(pk, data["state"])
        head, pieces, _ = bodies.split(pk, stored("ExecutionRecord", {**data, "state": state}), 0)
        first = history_sk(first_events[0]["id"])
        history = bodies.history_writes(pk, first, first_events, bodies.watched(head))
        ops = [Put(Item(pk, RECORD_SK, head), if_absent=True), *history, *definition, *pieces]
        if self.store.transaction_scope == "store" and len(ops) + 2 <= MAX_OPERATIONS:
            self.store.transact([Put(running), *ops, Put(Item(executions_pk(workflow), name, summary(head)))])
            return
        self.store.put(running)
        if len(ops) > MAX_OPERATIONS:  # pieces named by nobody until the record is written: they may go first
            for piece in [*definition, *pieces]:
                self.store.transact([piece])
            ops = ops[: 1 + len(history)]
        self.store.transact(ops)
        sync_listing(self.store, workflow, name)

    def page(self, workflow: str, *, limit: int, cursor: str | None) -> Page:
        """Listing entries (:func:`summary`) in name order (tombstones skipped)."""
        return live_page(self.store, executions_pk(workflow), limit=limit, cursor=cursor)

    def history(self, workflow: str, name: str, *, limit: int, cursor: str | None, reverse: bool) -> Page:
        """History items, each holding the events of one step (read them with :meth:`events_of`)."""
        return self.store.query(
            execution_pk(workflow, name), HISTORY_PREFIX, limit=limit, cursor=cursor, reverse=reverse
        )

    def events_of(self, item: Item) -> list[dict[str, Any]]:
        """The events of a history item (a large one's read back from its pieces)."""
        return bodies.events_of(self.store, item)
