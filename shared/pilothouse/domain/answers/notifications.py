"""Notification channels and their deliveries, alert rules and alerts (issue 11)."""

from __future__ import annotations

from typing import Any

from pilothouse.domain.answers.core import Answer


class NotificationChannel(Answer):
    """A channel: its URL shown as scheme and host only, its secret never."""

    id: str
    name: str
    kind: str
    url_display: str
    signed: bool
    subscriptions: list[dict[str, Any]]
    description: str
    created_at: str
    created_by: str


class NewNotificationChannel(NotificationChannel):
    """A channel as created: a generic webhook's signing secret, shown this once."""

    secret: str | None = None


class NotificationChannelList(Answer):
    items: list[NotificationChannel]


class NotificationDelivery(Answer):
    """One event's delivery to a channel and its attempts."""

    id: str
    channel: str
    event: dict[str, Any]
    status: str
    attempts: int
    created_at: str
    updated_at: str
    last_status_code: int | None = None
    last_latency_ms: float | None = None
    last_error: str | None = None
    next_attempt_at: str | None = None
    log: list[dict[str, Any]] = []


class NotificationDeliveryPage(Answer):
    items: list[NotificationDelivery]
    next_cursor: str | None


class AlertRule(Answer):
    name: str
    rule: dict[str, Any]
    created_at: str
    created_by: str


class AlertRuleList(Answer):
    items: list[AlertRule]


class Alert(Answer):
    """A rule's alert: its state since when, the values that decided it, ack and silence."""

    rule: str
    kind: str
    state: str
    since: str
    severity: str
    component: str | None = None
    last_values: dict[str, Any] | None = None
    acknowledged: dict[str, Any] | None = None
    silenced: dict[str, Any] | None = None
    history: list[dict[str, Any]] | None = None


class AlertList(Answer):
    items: list[Alert]
