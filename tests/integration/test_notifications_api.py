"""Notification channels through the functions: the outbound guard at creation, the secret shown
once, signed delivery to a receiver on 127.0.0.1, retries with back-off, the dead letter and
redelivery, and who may do what."""

from __future__ import annotations

import json

import pytest

from pilothouse.services.event_feed import dispatch
from tests.support.controlplane import drain
from tests.support.receivers import Receiver
from tests.support.specs import spec

QUEUE = "pilothouse-notifications"


def channel(name: str, url: str, events=("component.*",), kind: str = "webhook", **extra):
    return {"name": name, "kind": kind, "url": url, "subscriptions": [{"events": list(events), **extra}]}


def make_key(api, role):
    status, _, body = api.post("/v1/api-keys", {"name": f"{role}-key", "role": role})
    assert status == 201, body
    return body["key"]


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.170.2/v2/credentials",
        "https://[fd00:ec2::254]/",
        "https://10.0.0.5/hook",
        "https://192.168.1.1/hook",
        "https://metadata.google.internal/",
        "http://2852039166/",
        "file:///etc/passwd",
        "https://user:pw@hooks.example.com/x",
    ],
)
def test_a_refused_url_is_a_422_naming_url_and_no_request(api, url, loopback_only):
    """Given a URL the outbound guard refuses
    When a channel is created with it
    Then the answer is 422 problem+json naming the url field, and nothing is stored."""
    status, headers, problem = api.post("/v1/notifications/channels", channel("bad", url))
    assert status == 422, problem
    assert headers["content-type"].startswith("application/problem+json")
    assert problem["errors"][0]["field"] == "url"
    assert api.get("/v1/notifications/channels")[2]["items"] == []


def test_plain_http_is_refused_outside_loopback(api, loopback_only):
    """Given the embedded default (development)
    When a channel names plain http to a public address
    Then it is refused (https only; plain http only to loopback)."""
    status, _, problem = api.post("/v1/notifications/channels", channel("pub", "http://93.184.216.34/hook"))
    assert status == 422 and "https" in problem["errors"][0]["message"]


def test_the_secret_is_shown_once_and_never_stored_in_clear(api, services, loopback_only):
    """Given a generic webhook channel created
    When it is read, listed, audited and looked at in the store
    Then the secret and the URL's path appear only in the creation answer."""
    status, _, created = api.post(
        "/v1/notifications/channels", channel("ops", "http://127.0.0.1:9/hooks/s3cr3t-path?token=abc")
    )
    assert status == 201, created
    secret = created["secret"]
    assert secret.startswith("whsec_") and created["signed"] is True
    assert created["url_display"] == "http://127.0.0.1:9/…"
    got = api.get("/v1/notifications/channels/ops")[2]
    listed = api.get("/v1/notifications/channels")[2]["items"]
    audit = api.get("/v1/audit")[2]
    everything = json.dumps([got, listed, audit, [i.data for i in services.store.scan_all("NOTIFY_CHANNEL")]])
    assert secret not in everything and "s3cr3t-path" not in everything and "token=abc" not in everything
    assert "secret" not in got and "url_sealed" not in got
    # a name is unique
    assert api.post("/v1/notifications/channels", channel("ops", "http://127.0.0.1:9/x"))[0] == 409


def test_roles(api, loopback_only):
    """Given viewer, operator and deployer keys
    When they touch channels
    Then reading needs operator, creating and deleting need admin."""
    viewer, operator, deployer = (make_key(api, r) for r in ("viewer", "operator", "deployer"))
    body = channel("r", "http://127.0.0.1:9/x")
    assert api.get("/v1/notifications/channels", key=viewer)[0] == 403
    assert api.get("/v1/notifications/channels", key=operator)[0] == 200
    status, _, problem = api.post("/v1/notifications/channels", body, key=deployer)
    assert status == 403 and problem["required_permission"] == "notifications:write"
    assert api.post("/v1/notifications/channels", body)[0] == 201
    assert api.post("/v1/notifications/channels/r/test", key=viewer)[0] == 403
    assert api.delete("/v1/notifications/channels/r", key=operator)[0] == 403
    assert api.delete("/v1/notifications/channels/r")[0] == 204
    assert api.get("/v1/notifications/channels/r")[0] == 404


def test_a_component_event_reaches_a_local_receiver_signed(api, services, pool, cloud, loopback_only):
    """Given a webhook channel subscribed to component.* and a receiver that verifies signatures
    When a component is registered and the feed is dispatched twice (a crash-replay)
    Then exactly one signed delivery arrives, it verifies, and the log says delivered."""
    receiver = Receiver()
    try:
        status, _, created = api.post(
            "/v1/notifications/channels", channel("ops", receiver.url + "/hook", events=["component.*"])
        )
        assert status == 201, created
        receiver.secret = created["secret"]
        assert api.post("/v1/components", spec("web"))[0] == 201
        first = dispatch(services)
        assert first["events"] >= 1 and first["deliveries"] == 1
        assert drain(services, pool, cloud, [QUEUE]) == []
        assert dispatch(services)["events"] == 0  # the outbox is empty now
        assert len(receiver.received) == 1 and receiver.verified == [True]
        got = receiver.received[0]
        assert got["body"]["type"] == "component.registered" and got["body"]["component"] == "web"
        assert got["headers"]["Pilothouse-Event"] == "component.registered"
        assert got["headers"]["Pilothouse-Delivery"] == got["body"]["delivery_id"]
        log = api.get("/v1/notifications/channels/ops/deliveries")[2]["items"]
        assert [d["status"] for d in log] == ["delivered"]
        assert log[0]["attempts"] == 1 and log[0]["last_status_code"] == 200
        assert log[0]["last_latency_ms"] >= 0
    finally:
        receiver.close()


def test_a_receiver_answering_500_is_retried_with_backoff_then_dead_lettered(
    manual_services, clock, api, pool, cloud, loopback_only
):
    """Given a receiver that answers 500
    When a test notification is sent and the queue is worked as time passes
    Then it is tried MAX_ATTEMPTS times with growing delays, dead-lettered, and redelivery sends it
    again (to a receiver that now answers 200)."""
    MAX_ATTEMPTS = manual_services.settings.notifications_max_attempts  # noqa: N806 (6 by default)

    receiver = Receiver(status=500, clock=clock)
    try:
        created = api.post("/v1/notifications/channels", channel("flaky", receiver.url))[2]
        receiver.secret = created["secret"]
        status, _, delivery = api.post("/v1/notifications/channels/flaky/test")
        assert status == 202 and delivery["status"] == "pending"
        waits = []
        for _ in range(MAX_ATTEMPTS):
            drain(manual_services, pool, cloud, [QUEUE])
            d = manual_services.store.get("NOTIFY_DELIVERY#flaky", delivery["id"]).data
            if d["status"] != "retrying":
                break
            wait = max(0.0, _epoch(d["next_attempt_at"]) - clock.time())
            waits.append(wait)
            assert manual_services.queue.receive(QUEUE) == []  # the retry is not due yet
            clock.advance(wait + 1)
        assert d["status"] == "dead_lettered" and d["attempts"] == MAX_ATTEMPTS
        assert len(receiver.received) == MAX_ATTEMPTS and all(receiver.verified)
        assert [e["status_code"] for e in d["log"]] == [500] * MAX_ATTEMPTS
        assert all(b > a * 0.9 for a, b in zip(waits, waits[1:], strict=False)), waits  # backing off
        dead = api.get("/v1/notifications/channels/flaky/deliveries", query="status=dead_lettered")[2]
        assert [x["id"] for x in dead["items"]] == [delivery["id"]]
        # redeliver: the receiver is fixed
        receiver.status = 200
        status, _, again = api.post(f"/v1/notifications/channels/flaky/deliveries/{delivery['id']}/redeliver")
        assert status == 202 and again["status"] == "pending"
        drain(manual_services, pool, cloud, [QUEUE])
        d = manual_services.store.get("NOTIFY_DELIVERY#flaky", delivery["id"]).data
        assert d["status"] == "delivered" and len(receiver.received) == MAX_ATTEMPTS + 1
        # a finished delivery is not redelivered twice at once... but a delivered one may be again
        assert api.post(f"/v1/notifications/channels/flaky/deliveries/{delivery['id']}/redeliver")[0] == 202
    finally:
        receiver.close()


def test_subscriptions_filter_by_type_component_and_environment(api, services, pool, cloud, loopback_only):
    """Given two channels, one for production deployments only and one for component web
    When components in development are registered
    Then only the component channel's filter matches, for web only."""
    receiver = Receiver()
    try:
        api.post(
            "/v1/notifications/channels",
            channel("prod", receiver.url, events=["*"], environments=["production"]),
        )
        api.post(
            "/v1/notifications/channels",
            channel("web", receiver.url, events=["component.*"], components=["web"]),
        )
        api.post("/v1/components", spec("web"))
        api.post("/v1/components", spec("api"))
        assert dispatch(services)["deliveries"] == 1
        drain(services, pool, cloud, [QUEUE])
        assert [r["body"]["component"] for r in receiver.received] == ["web"]
    finally:
        receiver.close()


def _epoch(value: str) -> float:
    from pilothouse.clock import parse_iso

    return parse_iso(value)


def test_a_redirect_is_not_followed(api, services, pool, cloud, loopback_only):
    """Given a receiver that answers 302 pointing at a second receiver
    When a test notification is delivered
    Then the redirect is not followed: the second receiver gets nothing and the attempt is a
    failure to retry (302 is not a 2xx)."""
    target = Receiver()
    bouncer = Receiver(status=302)
    try:
        created = api.post("/v1/notifications/channels", channel("bounce", bouncer.url))[2]
        bouncer.secret = created["secret"]
        delivery = api.post("/v1/notifications/channels/bounce/test")[2]
        drain(services, pool, cloud, [QUEUE])
        d = services.store.get("NOTIFY_DELIVERY#bounce", delivery["id"]).data
        assert d["status"] == "retrying" and d["last_status_code"] == 302
        assert len(bouncer.received) == 1 and target.received == []
    finally:
        target.close()
        bouncer.close()


@pytest.mark.parametrize(
    "body",
    [
        channel("x", "https://example.com/" + "a" * 3000),
        {**channel("x", "https://example.com/"), "subscriptions": [{"events": ["*"]}] * 21},
        {**channel("x", "https://example.com/"), "subscriptions": [{"events": ["a" * 101]}]},
        {**channel("x", "https://example.com/"), "subscriptions": []},
        {**channel("x", "https://example.com/"), "kind": "pagerduty"},
        {**channel("x", "https://example.com/"), "secret": "mine"},
        channel("../../etc", "https://example.com/"),
    ],
)
def test_bad_channel_bodies_are_422(api, body, loopback_only):
    status, _, problem = api.post("/v1/notifications/channels", body)
    assert status == 422, problem


def test_unknown_names_are_404_not_traversal(api):
    assert api.get("/v1/notifications/channels/..%2F..%2Fetc")[0] == 404
    assert api.get("/v1/notifications/channels/nope/deliveries")[0] == 404
    assert (
        api.post("/v1/notifications/channels/nope/deliveries/001764115200000-0123456789abcdef/redeliver")[0]
        == 404
    )
    assert api.get("/v1/alerts/..%2Fx")[0] == 404
