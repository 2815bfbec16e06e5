"""Who a Step Functions execution acts for: recorded around a start or redrive, put back when the
call fails, forgotten with the workflow."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pilothouse.clock import ManualClock
from pilothouse.services import workflow_operations as ops
from pilothouse.store.memory import MemoryStore


@pytest.fixture
def services():
    return SimpleNamespace(
        settings=SimpleNamespace(orchestrator="stepfunctions"), store=MemoryStore(ManualClock(0))
    )


def test_a_refused_redrive_changes_nobodys_permissions(services):
    """Given an admin's execution, when an operator's redrive fails, then it still acts for the admin."""
    with ops.starting(services, "flow", "x", "key:admin"):
        pass
    with pytest.raises(RuntimeError), ops.starting(services, "flow", "x", "key:operator", redrive=True):
        raise RuntimeError("ExecutionNotRedrivable")
    assert ops.starter_of(services, "flow", "x") == "key:admin"


def test_a_failed_start_leaves_no_record(services):
    with pytest.raises(RuntimeError), ops.starting(services, "flow", "y", "key:someone"):
        raise RuntimeError("StateMachineDoesNotExist")
    assert ops.starter_of(services, "flow", "y") is None


def test_deleting_a_workflow_forgets_its_starters(services):
    """Given executions of two workflows, when one workflow is deleted, then a new execution reusing
    an old name there does not act for the old starter; the other workflow keeps its records."""
    with ops.starting(services, "flow", "x", "key:admin"):
        pass
    with ops.starting(services, "flow2", "x", "key:admin"):
        pass
    ops.forget_starters(services, "flow")
    with ops.starting(services, "flow", "x", "key:viewer"):
        pass
    assert ops.starter_of(services, "flow", "x") == "key:viewer"
    assert ops.starter_of(services, "flow2", "x") == "key:admin"
