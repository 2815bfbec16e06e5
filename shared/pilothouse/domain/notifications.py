"""Notification channels, subscriptions, signatures and retry timing (pure: no I/O).

A *channel* is where notifications go (a generic webhook, a Slack incoming webhook, a Microsoft
Teams webhook); its *subscriptions* say which events it wants (by event-type pattern, component,
environment). Generic webhooks are signed the way Stripe signs its events, so a receiver can check
the sender and refuse replays:

    >>> header = signature_header("whsec_k", b'{"a":1}', timestamp=1700000000)
    >>> header.startswith("t=1700000000,v1=")
    True
    >>> verify_signature("whsec_k", b'{"a":1}', header, now=1700000100)
    True
    >>> verify_signature("whsec_k", b'{"a":2}', header, now=1700000100)
    False
    >>> matches("deployment.*", "deployment.rolled_back"), matches("deployment.*", "alert.firing")
    (True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import random
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SIGNATURE_HEADER = "Pilothouse-Signature"
#: how far a receiver should accept a signature's time from its own clock (Stripe's default)
SIGNATURE_TOLERANCE_SECONDS = 300
#: delivery attempts before a delivery is dead-lettered
MAX_ATTEMPTS = 6
#: first retry delay and its cap (SQS delays a message at most 900 s)
BACKOFF_BASE_SECONDS = 10.0
BACKOFF_CAP_SECONDS = 900.0

ChannelKind = Literal["webhook", "slack", "teams"]
#: an event-type pattern (a.b, a.*, or *), as a JSON Schema pattern
EVENT_PATTERN = r"^(\*|[a-z][a-z0-9_]*(\.([a-z][a-z0-9_]*|\*))*)$"
EventPattern = Annotated[str, Field(max_length=100, pattern=EVENT_PATTERN)]


def matches(pattern: str, event_type: str) -> bool:
    """Whether ``event_type`` is one ``pattern`` names: exact, ``*`` (all), or a trailing ``.*``
    (every type under that prefix, any depth)."""
    if pattern == "*" or pattern == event_type:
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return False


class Subscription(BaseModel):
    """Which events a channel receives: every pattern-matching type, narrowed by component and
    environment when given."""

    model_config = ConfigDict(extra="forbid")

    events: list[EventPattern] = Field(
        min_length=1,
        max_length=50,
        description="event-type patterns: deployment.*, approval.requested, alert.firing, *",
    )
    components: list[str] = Field(default_factory=list, max_length=100, description="empty: every component")
    environments: list[Literal["development", "staging", "production"]] = Field(
        default_factory=list, description="empty: every environment"
    )

    def wants(self, event: dict[str, Any]) -> bool:
        """Whether an event of the feed (``type``, ``component``, ``environment``) is for it."""
        if not any(matches(p, event["type"]) for p in self.events):
            return False
        if self.components and event.get("component") not in self.components:
            return False
        return not (self.environments and event.get("environment") not in self.environments)


class ChannelRequest(BaseModel):
    """What ``POST /v1/notifications/channels`` takes."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="unique, lower-case")
    kind: ChannelKind
    url: str = Field(
        min_length=1, max_length=2048, description="where to POST (checked by the outbound guard)"
    )
    subscriptions: list[Subscription] = Field(min_length=1, max_length=20)
    description: str = Field(default="", max_length=500)


def wants(subscriptions: list[dict[str, Any]], event: dict[str, Any]) -> bool:
    """Whether any of a channel's stored subscriptions wants ``event``."""
    return any(Subscription.model_validate(s).wants(event) for s in subscriptions)


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, *, timestamp: int) -> str:
    """The ``Pilothouse-Signature`` value: ``t=<unix>,v1=<hex>``."""
    return f"t={timestamp},v1={signature(secret, body, timestamp)}"


def verify_signature(
    secret: str, body: bytes, header: str, *, now: float, tolerance: float = SIGNATURE_TOLERANCE_SECONDS
) -> bool:
    """What a receiver does: the header parses, its time is within ``tolerance`` of ``now`` (a
    replay later is refused), and one ``v1`` matches (compared in constant time)."""
    parts: dict[str, list[str]] = {}
    for piece in header.split(","):
        key, _, value = piece.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, body, timestamp)
    return any(hmac.compare_digest(expected, v) for v in parts.get("v1", []))


def backoff_seconds(
    attempt: int, *, base: float = BACKOFF_BASE_SECONDS, rng: random.Random | None = None
) -> float:
    """The delay before retry number ``attempt`` (1: the first retry): exponential with jitter
    over [base * 2^(attempt-1) / 2, base * 2^(attempt-1)], capped at 900 s."""
    ceiling = min(BACKOFF_CAP_SECONDS, base * 2 ** max(0, attempt - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)


def display_url(url: str) -> str:
    """What an answer shows of a channel's URL: scheme and host only (Slack's and Teams' paths,
    and many webhooks' query strings, are credentials)."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}/…"


def _summary(event: dict[str, Any]) -> str:
    subject = event.get("component") or event.get("deployment") or "pilothouse"
    detail = event.get("summary") or ""
    return f"[{event['type']}] {subject}" + (f": {detail}" if detail else "")


def render(kind: str, event: dict[str, Any], delivery_id: str) -> dict[str, Any]:
    """The JSON body a channel of ``kind`` receives for ``event``: the event itself for a webhook,
    a message with a text for Slack, a MessageCard for Teams."""
    if kind == "slack":
        return {"text": _summary(event)}
    if kind == "teams":
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": event["type"],
            "themeColor": "d63333" if event["type"] in ("alert.firing", "deployment.failed") else "2e7d32",
            "title": _summary(event),
            "sections": [
                {
                    "facts": [
                        {"name": k, "value": str(event[k])}
                        for k in ("type", "component", "environment", "deployment", "at")
                        if event.get(k)
                    ]
                }
            ],
        }
    return {"delivery_id": delivery_id, **event}
