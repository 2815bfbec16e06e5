"""Inbound webhooks: GitHub, GitLab and generic signed deliveries, acknowledged at once, processed
from the queue once, kept with their outcome and replayable; trigger rules fire their actions."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid

import pytest

from pilothouse.domain.webhooks import sign_generic
from pilothouse.errors import ConfigurationError
from pilothouse.repositories.webhooks import PK, SECRET
from pilothouse.services import sealing
from tests.support import deploying
from tests.support.deploying import comp, running, spec

services, provider, run = deploying.services, deploying.provider, deploying.run


def source(api, name="gh", kind="github", rules=None) -> str:
    status, _, body = api.post("/v1/webhook-sources", {"name": name, "kind": kind, "rules": rules or []})
    assert status == 201, body
    return body["secret"]


def github_headers(secret: str, body: bytes, event="push", delivery=None) -> dict[str, str]:
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }


def deliver(api, source_name: str, body: bytes, headers: dict[str, str]):
    return api.call(
        "POST",
        f"/v1/webhooks/{source_name}",
        body,
        key=None,
        headers=headers,
    )


def push(ref: str, commit: str = "a" * 40) -> bytes:
    return json.dumps({"ref": ref, "after": commit, "repository": {"full_name": "acme/parser"}}).encode()


def deliveries(api, name="gh"):
    return api.get(f"/v1/webhook-sources/{name}/deliveries")[2]["items"]


UPDATE_ON_TAG = [
    {
        "name": "release-tags",
        "on": {"event": "tag", "tag": "v*"},
        "do": {"type": "update_component", "component": "web"},
    }
]


def test_a_signed_github_tag_push_updates_the_component_to_the_tags_version(api, run, provider):
    """Given a GitHub source whose rule updates web on tags v*, when a correctly signed push of tag
    v2.0.0 arrives, then it is acknowledged 202, processed from the queue, web runs 2.0.0, and the
    delivery is kept as processed with the rule's outcome; the source never shows its secret again."""
    running(api, run)
    secret = source(api, rules=UPDATE_ON_TAG)
    assert secret.startswith("whsec_")
    body = push("refs/tags/v2.0.0")
    status, _, answer = deliver(api, "gh", body, github_headers(secret, body, delivery="d-1"))
    assert status == 202 and answer == {"delivery": "d-1", "status": "received", "event": "tag"}
    run()
    assert comp(api)["version"] == "2.0.0"
    [kept] = deliveries(api)
    assert kept["status"] == "processed"
    assert kept["outcomes"][0]["rule"] == "release-tags" and "2.0.0" in kept["outcomes"][0]["detail"]
    assert "secret" not in api.get("/v1/webhook-sources/gh")[2]
    assert secret not in json.dumps(api.get("/v1/webhook-sources")[2])
    assert secret not in json.dumps(api.get("/v1/audit")[2])


def test_tampered_unsigned_and_unknown_deliveries_are_401_and_nothing_is_stored(api):
    """Given a GitHub source, a body changed after signing, a missing signature, a signature with
    another secret and an unknown source are each a 401; no delivery is stored, but the refusals
    are in the audit trail."""
    secret = source(api)
    body = push("refs/heads/main")
    headers = github_headers(secret, body)
    assert deliver(api, "gh", body.replace(b"main", b"evil"), headers)[0] == 401
    assert deliver(api, "gh", body, {k: v for k, v in headers.items() if "Signature" not in k})[0] == 401
    assert deliver(api, "gh", body, github_headers("whsec_other", body))[0] == 401
    assert deliver(api, "nobody", body, headers)[0] == 401
    assert deliveries(api) == []
    audit = api.get("/v1/audit")[2]["items"]
    refused = [a for a in audit if a["operation"] == "receive_webhook"]
    assert refused and all(a["status"] == 401 for a in refused)


def test_generic_signatures_have_a_five_minute_replay_window(api, run, clock):
    """Given a generic source, a delivery signed now is accepted; the same bytes signed six minutes
    ago (a replay) are refused 401, and so is a changed body."""
    secret = source(api, name="ci", kind="generic")
    body = json.dumps({"event": "push", "ref": "refs/heads/main"}).encode()
    now = int(clock.time())
    fresh = {"X-Pilothouse-Signature": sign_generic(secret, body, now), "X-Pilothouse-Delivery": "g-1"}
    assert deliver(api, "ci", body, fresh)[0] == 202
    old = {"X-Pilothouse-Signature": sign_generic(secret, body, now - 360), "X-Pilothouse-Delivery": "g-2"}
    assert deliver(api, "ci", body, old)[0] == 401
    assert deliver(api, "ci", body + b" ", {**fresh, "X-Pilothouse-Delivery": "g-3"})[0] == 401
    run()
    assert [(d["id"], d["status"]) for d in deliveries(api, "ci")] == [("g-1", "ignored")]


def test_gitlab_token_and_duplicates_are_processed_once(api, run, provider):
    """Given a GitLab source, a delivery with the right X-Gitlab-Token is accepted and a wrong token
    refused; the same delivery id sent again (a retry or replay) is answered 200 duplicate and its
    rule runs once."""
    running(api, run)
    secret = source(api, name="gl", kind="gitlab", rules=UPDATE_ON_TAG)
    body = json.dumps(
        {"object_kind": "tag_push", "ref": "refs/tags/v3.0.0", "checkout_sha": "b" * 40}
    ).encode()
    headers = {"X-Gitlab-Event": "Tag Push Hook", "X-Gitlab-Token": secret, "X-Gitlab-Event-UUID": "gl-1"}
    assert deliver(api, "gl", body, {**headers, "X-Gitlab-Token": "nope"})[0] == 401
    assert deliver(api, "gl", body, headers)[0] == 202
    status, _, again = deliver(api, "gl", body, headers)
    assert status == 200 and again["status"] == "duplicate"
    run()
    assert comp(api)["version"] == "3.0.0"
    updates = [e for e in api.get("/v1/components/web/events")[2]["items"] if e["type"] == "update.requested"]
    assert len(updates) == 1


def test_racing_duplicates_are_accepted_exactly_once(api, run, provider):
    """Given eight threads sending the same GitHub delivery at once, exactly one gets 202 and the
    others 200 duplicate; one delivery is stored."""
    secret = source(api)
    body = push("refs/heads/main")
    headers = github_headers(secret, body, delivery="race-1")
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def send() -> None:
        barrier.wait()
        statuses.append(deliver(api, "gh", body, headers)[0])

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 7 + [202]
    assert len(deliveries(api)) == 1


def test_rules_fire_the_right_actions_and_unmatched_deliveries_are_ignored(api, run, provider, clock):
    """Given rules: push to main → update the system's api member to the short commit; release →
    promote the system; any event → start a workflow with a JSONPath and one with a JSONata
    mapping; a push to another branch matches only the workflow rules, a ping matches nothing
    but 'any' rules (a source without them records it ignored)."""
    for name, env in (("api", "development"), ("api-staging", "staging")):
        assert api.post("/v1/components", spec(name, environment=env))[0] == 201
    api.post("/v1/systems", {"name": "shop", "components": [{"name": "api"}]})
    api.post("/v1/systems", {"name": "shop-staging", "components": [{"name": "api-staging"}]})
    for system in ("shop", "shop-staging"):
        api.post(f"/v1/systems/{system}/deploy")
        for _ in range(10):
            run()
            clock.advance(2)
    flow = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    assert api.post("/v1/workflows", {"name": "on-event", "definition": flow})[0] == 201
    rules = [
        {
            "name": "main",
            "on": {"event": "push", "branch": "main"},
            "do": {
                "type": "update_system",
                "system": "shop",
                "components": ["api"],
                "version_from": "short_commit",
            },
        },
        {
            "name": "ship",
            "on": {"event": "release"},
            "do": {"type": "promote_system", "system": "shop", "to": "shop-staging"},
        },
        {
            "name": "repo",
            "on": {"event": "any"},
            "do": {"type": "start_workflow", "workflow": "on-event", "jsonpath": "$.repository"},
        },
        {
            "name": "summary",
            "on": {"event": "any"},
            "do": {
                "type": "start_workflow",
                "workflow": "on-event",
                "jsonata": "{% {'ref': $states.input.ref, 'kind': $event.type} %}",
            },
        },
    ]
    secret = source(api, rules=rules)
    commit = "c0ffee1234567890c0ffee1234567890c0ffee12"
    body = push("refs/heads/main", commit)
    assert deliver(api, "gh", body, github_headers(secret, body, delivery="main-1"))[0] == 202
    for _ in range(10):
        run()
        clock.advance(2)
    assert comp(api, "api")["version"] == commit[:12]
    executions = api.get("/v1/workflows/on-event/executions")[2]["items"]
    outputs = sorted(
        json.dumps(api.get(f"/v1/workflows/on-event/executions/{e['name']}")[2]["output"]) for e in executions
    )
    assert outputs == sorted(
        [json.dumps({"full_name": "acme/parser"}), json.dumps({"ref": "refs/heads/main", "kind": "push"})]
    )
    release = json.dumps({"action": "published", "release": {"tag_name": "v9.0.0"}}).encode()
    assert deliver(api, "gh", release, github_headers(secret, release, "release", "rel-1"))[0] == 202
    for _ in range(10):
        run()
        clock.advance(2)
    assert comp(api, "api-staging")["version"] == commit[:12]  # the system was promoted as a whole
    quiet = source(api, name="quiet", rules=rules[:1])
    other = push("refs/heads/feature/x")
    assert deliver(api, "quiet", other, github_headers(quiet, other, delivery="f-1"))[0] == 202
    run()
    assert deliveries(api, "quiet")[0]["status"] == "ignored"
    kinds = {d["id"]: [o["action"] for o in d["outcomes"]] for d in deliveries(api)}
    assert kinds["main-1"] == ["update_system", "start_workflow", "start_workflow"]
    assert kinds["rel-1"][0] == "promote_system"


def test_rules_are_validated_when_created(api):
    """Given rules naming a missing component, a bad JSONPath, a bad JSONata expression, or an
    unknown action type, creating the source is a 422 naming the field."""
    cases = [
        ({"type": "update_component", "component": "ghost"}, "rules[0].do.component"),
        ({"type": "start_workflow", "workflow": "nope"}, "rules[0].do.workflow"),
        ({"type": "delete_everything"}, "rules.0.do"),
    ]
    for do, field in cases:
        status, _, problem = api.post(
            "/v1/webhook-sources", {"name": "bad", "kind": "github", "rules": [{"name": "r", "do": do}]}
        )
        assert status == 422, problem
        assert any(e["field"].startswith(field) for e in problem["errors"]), problem
    flow = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    api.post("/v1/workflows", {"name": "w", "definition": flow})
    for mapping, field in (({"jsonpath": "repository["}, "jsonpath"), ({"jsonata": "{% $$$( %}"}, "jsonata")):
        do = {"type": "start_workflow", "workflow": "w", **mapping}
        status, _, problem = api.post(
            "/v1/webhook-sources", {"name": "bad", "kind": "github", "rules": [{"name": "r", "do": do}]}
        )
        assert status == 422 and problem["errors"][0]["field"] == f"rules[0].do.{field}", problem


def test_rotation_replay_and_least_privilege(api, run, provider):
    """Given a source, rotating gives a new secret once and the old one stops working; an admin can
    replay a kept delivery (its rules run again); a deployer can neither create sources, rotate
    nor replay (403), and a viewer reads sources without secrets."""
    running(api, run)
    old = source(api, rules=UPDATE_ON_TAG)
    status, _, rotated = api.post("/v1/webhook-sources/gh/rotate")
    assert status == 200 and rotated["secret"] != old
    body = push("refs/tags/v2.0.0")
    assert deliver(api, "gh", body, github_headers(old, body))[0] == 401
    assert deliver(api, "gh", body, github_headers(rotated["secret"], body, delivery="r-1"))[0] == 202
    run()
    deployer = api.post("/v1/api-keys", {"name": "d", "role": "deployer"})[2]["key"]
    viewer = api.post("/v1/api-keys", {"name": "v", "role": "viewer"})[2]["key"]
    assert api.post("/v1/webhook-sources/gh/deliveries/r-1/replay", key=deployer)[0] == 403
    assert api.post("/v1/webhook-sources/gh/rotate", key=deployer)[0] == 403
    assert api.post("/v1/webhook-sources", {"name": "x", "kind": "github"}, key=deployer)[0] == 403
    assert "secret" not in api.get("/v1/webhook-sources/gh", key=viewer)[2]
    status, _, replayed = api.post("/v1/webhook-sources/gh/deliveries/r-1/replay")
    assert status == 202 and replayed["status"] == "received"
    run()
    [kept] = deliveries(api)
    assert kept["attempts"] == 2 and kept["status"] == "processed"  # 2.0.0 again: an update to itself


def test_deliveries_are_acknowledged_before_they_are_processed(api, run):
    """Given a source, twenty signed deliveries are each answered 202 and kept as received while
    the queue has not run; once it runs, each is processed (here: ignored, no rule) exactly once."""
    secret = source(api)
    for i in range(20):
        body = push("refs/heads/main", f"{i + 1:040d}")
        assert deliver(api, "gh", body, github_headers(secret, body))[0] == 202
    assert {d["status"] for d in deliveries(api)} == {"received"}
    run()
    kept = deliveries(api)
    assert len(kept) == 20 and {(d["status"], d["attempts"]) for d in kept} == {("ignored", 1)}


def test_a_sources_secret_is_sealed_at_rest_and_bound_to_its_source(api, services):
    """Given a webhook source, when its stored secret record is read raw, then the secret is not
    in it (envelope-sealed under the master keys), and a sealed value copied onto another source
    does not open there."""
    secret = source(api, name="sealed")
    raw = services.store.get(PK, SECRET + "sealed")
    assert raw is not None and secret not in json.dumps(raw.data)
    assert sealing.unseal(services, raw.data["secret"], context="webhook:sealed") == secret
    with pytest.raises(ConfigurationError):
        sealing.unseal(services, raw.data["secret"], context="webhook:other")


def test_a_rules_workflow_acts_as_the_sources_own_principal_with_its_stated_role(api, run, provider, clock):
    """Given a source stating workflow_role deployer, When its rule starts a workflow updating a
    component, Then the update succeeds acting as ``webhook:gh`` (recorded on the execution and in
    the audit); a source stating no role gets the same workflow refused (Pilothouse.Forbidden), and
    a source stating operator can scale but not update."""
    running(api, run)
    update = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "update_component",
                "Parameters": {"name": "web", "version": "3.0.0"},
                "End": True,
            }
        },
    }
    assert api.post("/v1/workflows", {"name": "upd", "definition": update})[0] == 201
    rules = [{"name": "go", "on": {"event": "any"}, "do": {"type": "start_workflow", "workflow": "upd"}}]
    for name, role in (("none", None), ("ops", "operator"), ("gh", "deployer")):
        body = {"name": name, "kind": "github", "rules": rules, **({"workflow_role": role} if role else {})}
        status, _, created = api.post("/v1/webhook-sources", body)
        assert status == 201, created
        payload = push("refs/heads/main")
        assert (
            deliver(api, name, payload, github_headers(created["secret"], payload, delivery=f"d-{name}"))[0]
            == 202
        )
        for _ in range(5):
            run()
            clock.advance(2)
    executions = {
        e["name"]: api.get(f"/v1/workflows/upd/executions/{e['name']}")[2]
        for e in api.get("/v1/workflows/upd/executions")[2]["items"]
    }
    by_source = {n.split("-")[1]: e for n, e in executions.items()}
    assert by_source["gh"]["status"] == "SUCCEEDED", by_source["gh"]
    for refused in ("none", "ops"):
        assert (by_source[refused]["status"], by_source[refused]["error"]) == (
            "FAILED",
            "Pilothouse.Forbidden",
        )
    assert "workflow_role" in by_source["none"]["cause"]
    assert comp(api, "web")["version"] == "3.0.0"
    audit = api.get("/v1/audit", query="operation=update_component")[2]["items"]
    assert {(a["principal"], a["outcome"]) for a in audit} >= {
        ("webhook:gh", "success"),
        ("webhook:ops", "denied"),
    }
