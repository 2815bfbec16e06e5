"""Operations stored by the previous release kept the compiled plan and the promotion's task token
as hidden keys inside ``params`` (``_strategy``, ``_steps``, ``_notify_token``). Today they are
fields of the operation; a job still reads the old spelling, and no answer shows the token."""

from __future__ import annotations

import json

import pytest

from pilothouse.ports import Item
from pilothouse.repositories.components import RECORD_SK, component_pk
from pilothouse.services import components
from tests.support import deploying
from tests.support.deploying import comp, running

STEPS = [{"kind": "prepare"}, {"kind": "set_weight", "weight": 40}, {"kind": "set_weight", "weight": 100}]


# the shared deployment fixtures; every test here runs on the fake revision provider
services, provider, run = deploying.services, deploying.provider, deploying.run
pytestmark = pytest.mark.usefixtures("provider")


def stored_by_the_previous_release(services, extra_params: dict) -> str:
    """The web component Updating with an operation written literally as the previous release did."""
    record = components.get(services, "web")
    op = {
        "id": "0000000001000000002-prev0001",
        "command": "update",
        "params": {
            "version": "2.0.0",
            "_strategy": {"type": "custom", "steps": STEPS[1:]},
            "_steps": STEPS,
            **extra_params,
        },
        "requested_at": "2026-11-30T10:00:00Z",
        "requested_epoch": services.clock.time(),
        "requested_by": "admin",
        "request_id": "req-prev",
        "attempt": 0,
        "lease_until": None,
    }
    # written straight to the store, as the previous release left it (the repository would migrate it)
    services.store.put(
        Item(component_pk("web"), RECORD_SK, {**record.data, "state": "Updating", "operation": op}),
        if_version=record.version,
    )
    components.enqueue_job(services, "web", op["id"])
    return op["id"]


def test_an_operation_with_the_old_hidden_keys_runs_its_stored_plan(api, run, provider, services):
    """Given an update queued by the previous release with its plan in params._strategy/_steps
    When its job runs
    Then the deployment carries out exactly that stored plan (not a fresh one) and ends Running."""
    running(api, run)
    op_id = stored_by_the_previous_release(services, {})
    assert "_steps" in services.store.get(component_pk("web"), RECORD_SK).data["operation"]["params"]
    run()

    dep = api.get(f"/v1/deployments/{op_id}")[2]
    assert dep["status"] == "succeeded", dep
    assert dep["strategy"] == {"type": "custom", "steps": STEPS[1:]}
    assert [{k: s.get(k) for k in ("kind", "weight") if k in s} for s in dep["steps"]] == STEPS
    assert (comp(api)["state"], comp(api)["version"]) == ("Running", "2.0.0")


def test_the_next_write_stores_the_operation_in_todays_spelling(api, run, provider, services):
    """Given an operation in the previous release's spelling, when the job's lease rewrites the
    record, then the plan is in the operation's fields and no hidden key is left in params."""
    from pilothouse.services import jobs

    running(api, run)
    op_id = stored_by_the_previous_release(services, {"_notify_token": "tok-prev"})
    record = components.get(services, "web")
    jobs._lease(services, record, op_id)
    stored = services.store.get(component_pk("web"), RECORD_SK).data["operation"]
    assert stored["params"] == {"version": "2.0.0"}
    assert stored["steps"] == STEPS and stored["strategy"]["type"] == "custom"
    assert stored["notify_token"] == "tok-prev" and stored["attempt"] == 1


def test_the_component_answer_never_shows_a_promotions_task_token(api, run, provider, services):
    """Given an operation carrying a promotion's task token (old spelling and new)
    When the component is read
    Then the answer shows the operation's parameters and plan as before, but not the token."""
    running(api, run)
    stored_by_the_previous_release(services, {"_notify_token": "tok-secret-previous"})
    answer = comp(api)
    assert "tok-secret-previous" not in json.dumps(answer)
    assert answer["operation"]["params"]["_steps"] == STEPS
    assert answer["operation"]["params"]["version"] == "2.0.0"

    record = components.get(services, "web")
    op = {**record.data["operation"], "notify_token": "tok-secret-new"}
    components.repo(services).update(record, {**record.data, "operation": op}, {"type": "test"})
    assert "tok-secret-new" not in json.dumps(comp(api))
