"""Races on what the Step Functions endpoint keeps: published versions and mocked invocation counts."""

from __future__ import annotations

import threading

from pilothouse.repositories.workflows import RECORD_SK, execution_pk
from pilothouse.services import execution_mocks
from pilothouse.services import state_machines as machines


def _together(n: int, work) -> list:
    results: list = [None] * n
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_racing_publishes_number_versions_once_each(services):
    """Given 8 callers publishing 4 revisions at once (two each), Then the version numbers run from 1
    without gaps or duplicates, every revision is published, and every caller's answer is one of the
    stored versions (a revision the last version has already is not published again)."""
    results = _together(8, lambda i: machines.publish(services, "m", 1 + i // 2, description=None, now=1.0))
    versions = machines.get(services, "m")["versions"]
    assert [v["version"] for v in versions] == list(range(1, len(versions) + 1))
    assert {r["revision"] for r in results} == {1, 2, 3, 4}
    for r in results:
        assert r in versions


def test_racing_publishes_of_one_revision_give_one_version(services):
    results = _together(8, lambda i: machines.publish(services, "one", 7, description=None, now=1.0))
    assert {r["version"] for r in results} == {1}
    assert len(machines.get(services, "one")["versions"]) == 1


def test_racing_mocked_invocations_get_distinct_counts_and_redelivery_repeats(services):
    """Given 8 tasks of one state asking their invocation number at once, Then they get 0..7, each
    once, and a task asking again (a redelivered message) gets its own number back."""
    from pilothouse.ports import Item

    record = {"workflow": "wf", "name": "e1", "status": "RUNNING"}
    services.store.put(Item(execution_pk("wf", "e1"), RECORD_SK, record))
    execution = {"workflow": "wf", "name": "e1"}
    got = _together(8, lambda i: execution_mocks._invocation(services, execution, "Call", f"t{i}"))
    assert sorted(got) == list(range(8))
    again = _together(8, lambda i: execution_mocks._invocation(services, execution, "Call", f"t{i}"))
    assert again == got
