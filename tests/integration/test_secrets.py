"""Secrets (issue 13 §2) through the functions of template.yaml: write-only values, envelope
encryption at rest, references resolved only when a revision starts, rotation that redeploys,
and a leak test over every answer, event, audit record and log line of a run."""

from __future__ import annotations

import pytest

from tests.support import deploying
from tests.support.deploying import comp, deployment, running
from tests.support.secret_checks import BindingFake, everything, log_lines, put

services, run = deploying.services, deploying.run

VALUE = "s3cr3t-Value-of-the-db-7f3a9c"
ROTATED = "r0tated-Value-of-the-db-19be42"
NUMERIC = 424242424242


@pytest.fixture
def every_log_line():
    yield from log_lines()


@pytest.fixture
def provider():
    return BindingFake()


@pytest.fixture(autouse=True)
def _fresh_cache():
    from pilothouse.services import config_watch

    config_watch.clear()
    yield
    config_watch.clear()


def test_values_are_write_only(api):
    """Given a secret, every answer about it names versions, never the value; a second create is
    409, rotation makes version 2 and keeps 1 for rollback."""
    status, headers, body = api.post("/v1/secrets", {"name": "db", "value": VALUE, "description": "d"})
    assert status == 201 and headers["location"] == "/v1/secrets/db"
    assert body["current_version"] == 1 and body["backend"] == "builtin" and VALUE not in str(body)
    assert api.post("/v1/secrets", {"name": "db", "value": "x"})[0] == 409
    status, _, body = api.post("/v1/secrets/db/rotate", {"value": ROTATED})
    assert status == 200 and body["current_version"] == 2
    assert [v["version"] for v in body["versions"]] == [2, 1] and body["versions"][1]["keep_until"]
    assert [s["name"] for s in api.get("/v1/secrets")[2]["items"]] == ["db"]
    assert api.get("/v1/secrets/nope")[0] == 404
    assert api.delete("/v1/secrets/db")[0] == 204
    assert api.get("/v1/secrets/db")[0] == 404


def test_roles(api, services):
    """Given a viewer and an operator, the viewer sees no secrets and the operator cannot write."""
    from pilothouse.services.keys import create_key

    viewer, _ = create_key(services, name="v", role="viewer", created_by="t")
    operator, _ = create_key(services, name="o", role="operator", created_by="t")
    api.post("/v1/secrets", {"name": "db", "value": VALUE})
    assert api.get("/v1/secrets", key=viewer)[0] == 403
    assert api.get("/v1/secrets/db", key=operator)[0] == 200
    assert api.post("/v1/secrets/db/rotate", {"value": "x"}, key=operator)[0] == 403
    assert api.delete("/v1/secrets/db", key=operator)[0] == 403


def test_references_resolve_when_a_revision_starts_and_rotation_redeploys(api, run, provider):
    """Given config referencing a secret, the revision starts with the value in its environment,
    the component record keeps the reference only; rotating deploys it again with the new value,
    and a version pinned in the reference is not redeployed."""
    api.post("/v1/secrets", {"name": "db", "value": VALUE})
    running(api, run)
    reference = {"values": {"db": {"password": {"$secret": "db"}}}}
    status, _, out = put(api, "/v1/components/web/config", reference)
    assert status == 200, out
    run()
    assert deployment(api)["status"] == "succeeded"
    assert provider.secret_envs[-1] == {"DB__PASSWORD": VALUE}
    assert comp(api)["spec"]["config"] == {"db": {"password": {"$secret": "db"}}}
    status, _, body = api.post("/v1/secrets/db/rotate", {"value": ROTATED})
    assert [(d["component"], d["status"]) for d in body["deployments"]] == [("web", "started")]
    run()
    assert deployment(api)["status"] == "succeeded"
    assert provider.secret_envs[-1] == {"DB__PASSWORD": ROTATED}
    # a reference to a secret that does not exist is a 422 naming its path, nothing stored
    status, _, problem = put(api, "/v1/components/web/config", {"values": {"k": {"$secret": "nope"}}})
    assert status == 422 and problem["errors"][0]["field"] == "$.k"
    pinned = {"values": {"k": {"$secret": "db", "version": 9}}}
    status, _, problem = put(api, "/v1/components/web/config", pinned)
    assert status == 422 and "version 9" in problem["errors"][0]["message"]
    # deleting a referenced secret is refused, naming the component
    status, _, problem = api.delete("/v1/secrets/db")
    assert status == 409 and problem["components"] == ["web"]


def test_no_value_leaks_anywhere(api, run, provider, services, env, capfd, caplog, every_log_line):
    """Given a run that creates, references, deploys, rotates and mis-uses a secret, no API answer,
    event, audit record or log line contains a value, and neither does the raw SQLite file."""
    answers = [api.post("/v1/secrets", {"name": "db", "value": VALUE})]
    answers.append(api.post("/v1/secrets", {"name": "num", "value": NUMERIC}))  # a number: refused
    answers.append(api.post("/v1/secrets", {"name": "db", "value": VALUE}))  # taken
    answers.append(api.post("/v1/secrets", {"name": "Bad Name", "value": VALUE}))
    answers.append(api.post("/v1/secrets", {"name": "big", "value": VALUE * 3000}))
    answers.append(api.post("/v1/secrets/db/rotate", {"value": ROTATED}, headers={"Idempotency-Key": "k1"}))
    answers.append(api.post("/v1/secrets/db/rotate", {"value": ROTATED}, headers={"Idempotency-Key": "k1"}))
    running(api, run)
    answers.append(put(api, "/v1/components/web/config", {"values": {"pw": {"$secret": "db", "version": 1}}}))
    run()
    answers.append(put(api, "/v1/components/web/config", {"values": {"pw": {"$secret": "db"}}}))
    run()
    answers.append(api.post("/v1/secrets/db/rotate", {"value": VALUE + "-3"}))
    run()
    assert provider.secret_envs[-1] == {"PW": VALUE + "-3"}  # the values did reach the revisions
    answers += everything(api, ["web"])
    captured = capfd.readouterr()
    logs = every_log_line.getvalue()
    # the run's log lines are searched: a refused create (the resolver answers it) and the idempotent
    # rotation's record are in them
    assert "create_secret" in logs and "idempotency key" in logs
    text = repr(answers) + captured.out + captured.err + caplog.text + logs
    for value in (VALUE, ROTATED, str(NUMERIC), VALUE + "-3"):
        assert value not in text
    # the events of every component and deployment, the audit records: read from the store itself
    # (audit records live in day shards, AUDIT#<day>: every partition is scanned)
    raw_items = [i.data for i in services.store.scan() if i.pk.startswith("AUDIT")]
    assert raw_items and VALUE not in repr(raw_items)
    services.store.close()
    data = b"".join(p.read_bytes() for p in (env / "data").glob("state.db*"))
    assert b"db" in data
    for value in (VALUE, ROTATED, VALUE + "-3"):
        assert value.encode() not in data


def test_a_copied_ciphertext_does_not_open_under_another_name(services):
    """Given a sealed value of secret a, stored under secret b, it does not open."""
    from pilothouse.ports.secrets import SecretBackendError
    from pilothouse.ports.store import Item

    backend = services.secrets
    backend.put("a", 1, VALUE)
    stolen = services.store.get("SECRETVAL#a", "0000000001")
    services.store.put(Item("SECRETVAL#b", "0000000001", stolen.data))
    assert backend.get("a", 1, "") == VALUE
    with pytest.raises(SecretBackendError):
        backend.get("b", 1, "")
