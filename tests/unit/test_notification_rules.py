"""Notifications (pure): patterns, subscriptions, signatures a receiver can check, back-off, the
bodies each kind of channel gets."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from pilothouse.domain.notifications import (
    BACKOFF_CAP_SECONDS,
    Subscription,
    backoff_seconds,
    display_url,
    matches,
    render,
    signature_header,
    verify_signature,
)


@pytest.mark.parametrize(
    ("pattern", "event", "ok"),
    [
        ("*", "anything.at.all", True),
        ("deployment.*", "deployment.rolled_back", True),
        ("deployment.*", "deployment.analysis.failed", True),
        ("deployment.*", "deployments.x", False),
        ("deployment.*", "deployment", False),
        ("alert.firing", "alert.firing", True),
        ("alert.firing", "alert.resolved", False),
    ],
)
def test_patterns(pattern, event, ok):
    assert matches(pattern, event) is ok


def test_subscriptions_narrow_by_component_and_environment():
    sub = Subscription(events=["deployment.*"], components=["web"], environments=["production"])
    event = {"type": "deployment.failed", "component": "web", "environment": "production"}
    assert sub.wants(event)
    assert not sub.wants({**event, "component": "api"})
    assert not sub.wants({**event, "environment": "staging"})
    assert not sub.wants({**event, "type": "alert.firing"})
    with pytest.raises(ValidationError):
        Subscription(events=["Deployment.*"])
    with pytest.raises(ValidationError):
        Subscription(events=[])


def test_a_signature_verifies_and_refuses_tampering_other_secrets_and_replays():
    body = b'{"type":"alert.firing"}'
    header = signature_header("whsec_a", body, timestamp=1_700_000_000)
    assert verify_signature("whsec_a", body, header, now=1_700_000_010)
    assert not verify_signature("whsec_b", body, header, now=1_700_000_010)
    assert not verify_signature("whsec_a", body + b" ", header, now=1_700_000_010)
    assert not verify_signature("whsec_a", body, header, now=1_700_000_000 + 301)  # a replay later
    assert not verify_signature("whsec_a", body, "v1=deadbeef", now=1_700_000_000)
    assert not verify_signature("whsec_a", body, "t=abc,v1=x", now=1_700_000_000)
    # a rotated secret: the receiver accepts any v1 that matches
    other = signature_header("whsec_b", body, timestamp=1_700_000_000).split(",")[1]
    assert verify_signature("whsec_b", body, header + "," + other, now=1_700_000_000)


def test_backoff_grows_with_jitter_and_is_capped():
    rng = random.Random(7)
    delays = [backoff_seconds(n, rng=rng) for n in range(1, 12)]
    for n, d in enumerate(delays, start=1):
        ceiling = min(BACKOFF_CAP_SECONDS, 10 * 2 ** (n - 1))
        assert ceiling / 2 <= d <= ceiling
    assert len({round(backoff_seconds(3), 6) for _ in range(20)}) > 1  # jittered


def test_display_url_hides_path_query_and_userinfo():
    assert display_url("https://hooks.slack.com/services/T0/B0/secret") == "https://hooks.slack.com/…"
    assert display_url("https://u:p@example.com:8443/x?token=1") == "https://example.com:8443/…"


def test_bodies_per_kind():
    event = {"id": "evt_1", "type": "alert.firing", "component": "web", "summary": "web-errors is FIRING"}
    assert render("webhook", event, "d1") == {"delivery_id": "d1", **event}
    assert render("slack", event, "d1") == {"text": "[alert.firing] web: web-errors is FIRING"}
    card = render("teams", event, "d1")
    assert card["@type"] == "MessageCard" and card["themeColor"] == "d63333"
    assert {"name": "component", "value": "web"} in card["sections"][0]["facts"]


def test_an_error_text_loses_the_url_path_and_query():
    from pilothouse.services.notification_delivery import _scrubbed

    url = "https://hooks.slack.com/services/T0/B0/s3cret?token=abc"
    text = f"ConnectError: could not reach {url} (/services/T0/B0/s3cret)"
    scrubbed = _scrubbed(text, url)
    assert "s3cret" not in scrubbed and "token=abc" not in scrubbed
