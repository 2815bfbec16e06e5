"""The grant an OIDC user's executions act under (services.workflow_grants), without a server."""

from __future__ import annotations

import json

import pytest

from pilothouse.clock import ManualClock
from pilothouse.domain.security import Principal, Role
from pilothouse.errors import Forbidden
from pilothouse.services import workflow_grants
from pilothouse.services.workflow_operations import principal_of
from pilothouse.settings import Settings
from pilothouse.store.memory import MemoryStore
from pilothouse.wiring import Services

ISSUER = "https://id.example.com"


ROLES = [
    {"value": "ops", "role": "operator"},
    {"value": "devs", "role": "deployer", "environments": ["development"]},
]


def _services(store, clock, issuers=(ISSUER,), roles=None):
    config = [{"issuer": i, "audience": "pilothouse", "roles": roles or ROLES} for i in issuers]
    settings = Settings.from_environ(
        {"PILOTHOUSE_STORE": "memory", "PILOTHOUSE_OIDC_ISSUERS": json.dumps(config)}
    )
    return Services(settings, clock, store=store)


USER = Principal(
    id=f"oidc:{ISSUER}#u1",
    name="Ana",
    role=Role.OPERATOR,
    kind="oidc",
    issuer=ISSUER,
    subject="u1",
    groups=("devs", "ops"),
    role_values=("devs", "ops"),
    environment_roles=(("development", Role.DEPLOYER),),
)


def test_the_grant_round_trips_the_principal_and_lapses():
    store, clock = MemoryStore(), ManualClock()
    services = _services(store, clock)
    workflow_grants.record(services, USER)
    again = principal_of(services, USER.id)
    assert (again.role, again.environment_roles, again.groups) == (
        USER.role,
        USER.environment_roles,
        USER.groups,
    )
    clock.advance(services.settings.oidc_workflow_grant_seconds)
    with pytest.raises(Forbidden, match="lapsed"):
        principal_of(services, USER.id)


def test_an_issuer_no_longer_trusted_grants_nothing():
    store, clock = MemoryStore(), ManualClock()
    workflow_grants.record(_services(store, clock), USER)
    with pytest.raises(Forbidden, match="no longer trusted"):
        principal_of(_services(store, clock, issuers=("https://other.example.com",)), USER.id)


def test_no_grant_and_a_key_principal_write_nothing():
    store, clock = MemoryStore(), ManualClock()
    services = _services(store, clock)
    with pytest.raises(Forbidden, match="no grant"):
        principal_of(services, "oidc:https://id.example.com#nobody")
    workflow_grants.record(services, Principal(id="key:abc", name="k", role=Role.ADMIN))
    assert store.get(workflow_grants.PK, "key:abc") is None


def test_a_failed_start_puts_the_grant_back():
    store, clock = MemoryStore(), ManualClock()
    services = _services(store, clock)
    workflow_grants.record(services, USER)
    before = store.get(workflow_grants.PK, USER.id).data
    stronger = Principal(**{**USER.__dict__, "role": Role.ADMIN})
    with pytest.raises(RuntimeError), workflow_grants.granting(services, stronger):
        clock.advance(10)
        raise RuntimeError("the start failed")
    assert store.get(workflow_grants.PK, USER.id).data == before
    newcomer = Principal(**{**USER.__dict__, "id": f"oidc:{ISSUER}#u2", "subject": "u2"})
    with pytest.raises(RuntimeError), workflow_grants.granting(services, newcomer):
        raise RuntimeError("refused")
    assert store.get(workflow_grants.PK, newcomer.id) is None


def test_a_lowered_mapping_reaches_the_grant_and_a_raised_one_never_widens_it():
    store, clock = MemoryStore(), ManualClock()
    workflow_grants.record(_services(store, clock), USER)
    lowered = [{"value": "ops", "role": "viewer"}, {"value": "devs", "role": "viewer"}]
    now = principal_of(_services(store, clock, roles=lowered), USER.id)
    assert (now.role, now.role_in("development"), now.environment_roles) == (Role.VIEWER, Role.VIEWER, ())
    raised = [{"value": "ops", "role": "admin"}, {"value": "devs", "role": "admin"}]
    now = principal_of(_services(store, clock, roles=raised), USER.id)
    assert (now.role, now.role_in("development")) == (Role.OPERATOR, Role.DEPLOYER)
    with pytest.raises(Forbidden, match="no longer grants") as refused:
        principal_of(_services(store, clock, roles=[{"value": "other", "role": "admin"}]), USER.id)
    assert refused.value.extra["reason"] == "mapping-lowered"
    stored = store.get(workflow_grants.PK, USER.id).data
    assert stored["role_values"] == ["devs", "ops"] and "token" not in json.dumps(stored)


def test_a_mapping_read_from_a_nested_claim_and_a_separate_groups_claim_is_rebuilt():
    store, clock = MemoryStore(), ManualClock()
    config = [
        {
            "issuer": ISSUER,
            "audience": "pilothouse",
            "role_claim": "realm_access.roles",
            "groups_claim": "groups",
            "roles": [{"value": "release", "role": "deployer"}],
            "approvers": [{"group": "leads", "environments": ["production"]}],
        }
    ]
    settings = Settings.from_environ(
        {"PILOTHOUSE_STORE": "memory", "PILOTHOUSE_OIDC_ISSUERS": json.dumps(config)}
    )
    services = Services(settings, clock, store=store)
    user = Principal(
        id=USER.id,
        name="Ana",
        role=Role.DEPLOYER,
        kind="oidc",
        issuer=ISSUER,
        subject="u1",
        groups=("leads",),
        role_values=("release",),
        permissions=frozenset({"deployments:approve"}),
        environments=("production",),
    )
    workflow_grants.record(services, user)
    again = principal_of(services, user.id)
    assert (again.role, again.permissions, again.environments) == (
        Role.DEPLOYER,
        user.permissions,
        ("production",),
    )


def test_a_grant_written_before_role_values_were_recorded_reads_the_groups():
    store, clock = MemoryStore(), ManualClock()
    services = _services(store, clock)
    workflow_grants.record(services, USER)
    item = store.get(workflow_grants.PK, USER.id)
    old = {k: v for k, v in item.data.items() if k != "role_values"}
    store.put(type(item)(workflow_grants.PK, USER.id, old))
    assert principal_of(services, USER.id).role == Role.OPERATOR
