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


def _services(store, clock, issuers=(ISSUER,)):
    config = [
        {"issuer": i, "audience": "pilothouse", "roles": [{"value": "sre", "role": "deployer"}]}
        for i in issuers
    ]
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
    groups=("ops", "devs"),
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
