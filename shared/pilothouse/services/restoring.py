"""Which components a control-plane restart is bringing back, from the moment the API answers.

After a restart the embedded cloud listens at once and, in the background, first *marks* every
component it will restore (``restoring`` on its record: its GET says so, commands on it answer 409
with Retry-After) and then restores them. Between listening and the end of that marking pass, a
component that needs restoring may not carry its mark yet; :func:`seen` gives it the same answer
as a marked one, so what a caller sees does not depend on how far the pass has got.

    restoring.begin(services)      # before listening
    ...                            # the marking pass (services.jobs.mark_restoring)
    restoring.end(services)        # every component to restore carries its mark
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

from pilothouse.clock import iso
from pilothouse.domain.lifecycle import State
from pilothouse.repositories.components import Record
from pilothouse.services.context import ServiceContext

if TYPE_CHECKING:
    from pilothouse.ports import Store

NOTE = "being restored after a control-plane restart"

#: the states whose placement a restart brings back
RESTORED_STATES = frozenset({State.RUNNING.value, State.SCALING.value, State.UPDATING.value})

#: stores (one per control plane in this process) whose restart has not marked its components yet
_unmarked: weakref.WeakKeyDictionary[Store, str] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def needs_restore(record: Record) -> bool:
    """Whether a control-plane restart must bring this component's instances back: it serves
    (Running, or Scaling/Updating with a placement), or a deployment of it is under way. (A retry
    not started yet is not: it stops what its placement names and deploys afresh.)"""
    data = record.data
    if (data.get("operation") or {}).get("deployment_started"):
        return True
    return bool(data.get("placement")) and record.state in RESTORED_STATES


def marker(services: ServiceContext) -> dict[str, str]:
    """The ``restoring`` value of a record being restored."""
    return {"since": iso(services.clock.time()), "note": NOTE}


def begin(services: ServiceContext) -> None:
    """A restart starts: until :func:`end`, components to restore count as marked."""
    with _lock:
        _unmarked[services.store] = iso(services.clock.time())


def end(services: ServiceContext) -> None:
    """Every component to restore carries its mark now (or the control plane is stopping)."""
    with _lock:
        _unmarked.pop(services.store, None)


def seen(services: ServiceContext, record: Record) -> Record:
    """``record`` as callers see it: with a ``restoring`` mark while a restart has yet to write it."""
    if record.data.get("restoring") or not _unmarked or not needs_restore(record):
        return record
    with _lock:
        since = _unmarked.get(services.store)
    if since is None:
        return record
    return Record({**record.data, "restoring": {"since": since, "note": NOTE}}, record.version)
