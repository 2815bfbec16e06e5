"""The repositories validate what they write with the typed records of domain/records.py: the stored
JSON stays byte-for-byte what the writers built, and a write with an unknown or mistyped field fails."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from pilothouse.clock import ManualClock
from pilothouse.domain.stored_models import (
    ApiKeyRecord,
    AuditEntry,
    ComponentEventRecord,
    ComponentRecord,
    DeploymentEventRecord,
    DeploymentRecord,
    stored,
)
from pilothouse.repositories.audit import AuditRepository
from pilothouse.repositories.components import EVENT_PREFIX, RECORD_SK, ComponentRepository, component_pk
from pilothouse.repositories.deployments import DeploymentRepository, deployment_pk
from pilothouse.repositories.keys import ApiKeyRepository
from pilothouse.store.memory import MemoryStore

# Records as the store held them before the typed models (in the key order and spelling the writers
# of the code before this change produced), one literal per kind and shape of writer.
COMPONENT = (
    '{"name":"web","spec":{"name":"web","provider":"local","environment":"development","version":"1.0.0",'
    '"target":{"command":["{python}","app.py","--port","{port}"]},"scaling":{"min":1,"max":5,"replicas":null},'
    '"config":{}},"state":"Updating","version":"1.0.0","replicas":1,"url":"http://127.0.0.1:9001",'
    '"placement":{"provider":"local","version":"1.0.0","replicas":1,"url":"http://127.0.0.1:9001",'
    '"details":{}},"last_error":null,"operation":{"id":"0001-ab","command":"update",'
    '"params":{"version":"2.0.0"},"strategy":{"type":"all_at_once"},"steps":[{"kind":"prepare"}],'
    '"requested_at":"1970-01-01T00:16:40Z","requested_epoch":1000.0,"requested_by":"admin",'
    '"request_id":"r-1","attempt":1,"lease_until":null,"started_at":"1970-01-01T00:16:40Z",'
    '"deployment_started":true},"created_at":"1970-01-01T00:16:40Z","updated_at":"1970-01-01T00:16:41Z",'
    '"created_by":"admin","last_good":{"version":"1.0.0","config":{},"at":"1970-01-01T00:16:40Z"},'
    '"previous_version":"0.9.0","restoring":{"since":"1970-01-01T00:16:41Z","note":"being restored"}}'
)
EVENT = (
    '{"id":"000000001000000#0000000002","component":"web","at":"1970-01-01T00:16:40Z",'
    '"type":"deploy.succeeded","from":"Deploying","to":"Running","actor":"system","request_id":null,'
    '"operation_id":"0001-ab","version":"1.0.0","replicas":1,"url":"http://127.0.0.1:9001"}'
)
DEPLOYMENT = (
    '{"id":"0001-ab","component":"web","environment":"development","provider":"local","command":"deploy",'
    '"from_version":null,"to_version":"1.0.0","config":null,"strategy":{"type":"all_at_once"},'
    '"workflow":"pilothouse-plan","execution":"0001-ab","status":"failed","steps":[{"index":0,'
    '"kind":"health","status":"failed","started_at":"t","finished_at":"t"}],"current_step":0,'
    '"placement":null,"replicas":1,"weights":{"r1":100},"analysis":[],"approvals":[],"pending_token":null,'
    '"paused":false,"abort_requested":null,"promote_full":false,"outcome":"failed","error":"unhealthy",'
    '"initiated_by":"admin","request_id":"r-1","created_at":"t","updated_at":"t","finished_at":"t",'
    '"notify_token":null,"separate_approver":false,"capabilities":["abc"],"_detail":{"healthy":false},'
    '"logs":["boom"]}'
)
DEPLOYMENT_EVENT = (
    '{"id":"000000001000000#00000003","deployment":"0001-ab","at":"1970-01-01T00:16:40Z",'
    '"type":"health.failed","step":2,"detail":{"healthy":false}}'
)
API_KEY = (
    '{"id":"k1","name":"ci","role":"deployer","hash":"'
    + "0" * 64
    + '","created_at":"t","created_by":"admin",'
    '"expires_at":null,"expires_epoch":null,"revoked_at":null,"prefix":"ph_k1_","permissions":[],'
    '"environments":["development"]}'
)
AUDIT = (
    '{"at":"t","principal":"admin","operation":"deploy_component","target":"web","request_id":"r-1",'
    '"status":202,"outcome":"success","detail":null}'
)
AUDIT_REFUSALS = (
    '{"at":"t","principal":"anonymous","operation":"list_components","target":null,"request_id":"r-2",'
    '"status":401,"outcome":"denied","count":3,"last_at":"t","detail":"counted"}'
)


def dumped(data: dict) -> str:
    return json.dumps(data, separators=(",", ":"))


@pytest.mark.parametrize(
    ("model", "literal"),
    [
        (ComponentRecord, COMPONENT),
        (ComponentEventRecord, EVENT),
        (DeploymentRecord, DEPLOYMENT),
        (DeploymentEventRecord, DEPLOYMENT_EVENT),
        (ApiKeyRecord, API_KEY),
        (AuditEntry, AUDIT),
        (AuditEntry, AUDIT_REFUSALS),
    ],
)
def test_a_stored_record_keeps_its_bytes(model, literal):
    assert dumped(stored(model, json.loads(literal))) == literal


@pytest.fixture
def store():
    return MemoryStore(ManualClock(1000.0))


def test_the_component_repository_writes_record_and_event_as_before(store):
    record, event = json.loads(COMPONENT), json.loads(EVENT)
    event_detail = {k: v for k, v in event.items() if k not in ("id", "component", "at")}
    ComponentRepository(store).create(record, event_detail)
    assert dumped(store.get(component_pk("web"), RECORD_SK).data) == COMPONENT
    (written,) = store.query(component_pk("web"), EVENT_PREFIX).items
    assert dumped({k: v for k, v in written.data.items() if k not in ("id", "at")}) == dumped(
        {k: v for k, v in event.items() if k not in ("id", "at")}
    )


def test_the_deployment_repository_writes_as_before(store):
    repo = DeploymentRepository(store)
    repo.create(json.loads(DEPLOYMENT), {"type": "created"})
    assert dumped(store.get(deployment_pk("0001-ab"), "RECORD").data) == DEPLOYMENT


@pytest.mark.parametrize(
    "change",
    [
        {"replica": 2},  # unknown (a typo of replicas)
        {"replicas": "2"},  # mistyped: no coercion
        {"operation": {"command": "deploy"}},  # the operation's id is missing
    ],
)
def test_a_component_write_with_a_wrong_field_fails(store, change):
    repo = ComponentRepository(store)
    with pytest.raises(ValidationError):
        repo.create({**json.loads(COMPONENT), **change}, {"type": "registered"})
    assert store.get(component_pk("web"), RECORD_SK) is None


def test_an_event_with_an_unknown_field_fails(store):
    with pytest.raises(ValidationError):
        ComponentRepository(store).create(json.loads(COMPONENT), {"type": "registered", "secret": "x"})


def test_a_deployment_change_adding_an_unknown_field_fails(store):
    repo = DeploymentRepository(store)
    repo.create(json.loads(DEPLOYMENT), {"type": "created"})

    def change(d):
        d["notfiy_token"] = "t"  # a typo
        return {"type": "changed"}

    with pytest.raises(ValidationError):
        repo.change("0001-ab", change)
    assert "notfiy_token" not in store.get(deployment_pk("0001-ab"), "RECORD").data


def test_a_key_record_holds_a_hash_never_the_secret(store):
    repo = ApiKeyRepository(store)
    with pytest.raises(ValidationError):
        repo.create({**json.loads(API_KEY), "key": "ph_k1_secret"})
    with pytest.raises(ValidationError):
        repo.create({**json.loads(API_KEY), "hash": "ph_k1_secret"})
    assert store.get("APIKEY", "k1") is None


def test_an_audit_record_with_a_mistyped_status_fails(store):
    with pytest.raises(ValidationError):
        record = {**json.loads(AUDIT), "status": "202", "seq": 1, "hash": "h"}
        AuditRepository(store).append("2026-01-01", record, None, expires_at=2000.0)


def test_a_deployment_event_with_a_mistyped_field_fails(store):
    repo = DeploymentRepository(store)
    with pytest.raises(ValidationError):
        repo.create(json.loads(DEPLOYMENT), {"type": "created", "step": "2"})
    assert store.get(deployment_pk("0001-ab"), "RECORD") is None


EXECUTION = {
    "arn": "arn:aws:states:local:000000000000:execution:wf:e1",
    "name": "e1",
    "workflow": "wf",
    "workflow_version": 1,
    "status": "RUNNING",
    "step": 0,
    "state": {"positions": []},
    "input": {"n": 1},
    "output": None,
    "error": None,
    "cause": None,
    "start_date": "1970-01-01T00:16:40Z",
    "stop_date": None,
    "redrive_count": 0,
    "updated_epoch": 1000.0,
    "resume_at": 1000.0,
    "outbox": [],
    "task_leases": {},
    "started_by": "admin",
    "request_id": "r-1",
    "trusted": False,
}


def test_an_execution_starts_as_the_engine_wrote_it_and_refuses_unknown_fields(store):
    from pilothouse.repositories.workflows import ExecutionRepository

    repo = ExecutionRepository(store)
    repo.create(dict(EXECUTION), [{"id": 1, "type": "ExecutionStarted"}])
    assert json.dumps(repo.require("wf", "e1").data) == json.dumps(EXECUTION)
    with pytest.raises(ValidationError):
        repo.create({**EXECUTION, "name": "e2", "secret": "x"}, [{"id": 1, "type": "ExecutionStarted"}])
    with pytest.raises(ValidationError):
        repo.create({**EXECUTION, "name": "e3", "step": "0"}, [{"id": 1, "type": "ExecutionStarted"}])


@pytest.mark.parametrize(
    "data",
    [
        {"tokens": 4.0, "at": 100.5},
        {"tokens": 0, "at": 1},
        {"at": 1.0, "tokens": 2.5},
        {"tokens": "4", "at": 1.0},
        {"tokens": True, "at": 1.0},
        {"tokens": None, "at": 1.0},
        {"tokens": 1.0},
        {"tokens": 1.0, "at": 1.0, "extra": 1},
        {},
    ],
)
def test_a_rate_bucket_is_checked_as_its_stored_model_checks_it(data):
    """The rate limiter's repository checks its record without loading the stored models (a cold
    start's first request writes one): the same verdicts, and the same record when accepted."""
    from pilothouse.domain.stored_models import RateBucketRecord
    from pilothouse.repositories.ratelimits import bucket_record

    try:
        expected = stored(RateBucketRecord, data)
    except ValidationError:
        with pytest.raises(ValueError):
            bucket_record(data)
    else:
        assert json.dumps(bucket_record(data)) == json.dumps(expected)
