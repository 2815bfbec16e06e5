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
