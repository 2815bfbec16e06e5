"""Systems of components and their rollouts, and webhooks (issue 15)."""

from __future__ import annotations

from typing import Any

from pilothouse.domain.answers.core import Answer


class SystemMemberAnswer(Answer):
    name: str
    state: str
    version: str | None
    health: str
    url: str | None


class SystemRolloutAnswer(Answer):
    """One rollout of a system: each member's action, versions and step."""

    id: str
    system: str
    action: str
    status: str
    waves: list[list[str]]
    max_parallel: int
    members: dict[str, dict[str, Any]]
    started_at: str
    started_by: str
    finished_at: str | None = None
    execution: str | None = None
    error: str | None = None


class SystemAnswer(Answer):
    """A system: its spec, health (worst of its members'), version set and latest rollout."""

    name: str
    spec: dict[str, Any]
    environment: str | None
    health: str
    version_set: dict[str, str | None]
    members: list[SystemMemberAnswer]
    rollout: SystemRolloutAnswer | dict[str, Any] | None = None
    created_at: str
    updated_at: str


class SystemSummary(Answer):
    name: str
    spec: dict[str, Any]
    rollout: dict[str, Any] | None = None


class SystemPage(Answer):
    items: list[SystemSummary]
    next_cursor: str | None


class SystemRolloutPage(Answer):
    items: list[SystemRolloutAnswer]
    next_cursor: str | None


class WebhookReceipt(Answer):
    """What a webhook sender gets: its delivery id and whether it was new."""

    delivery: str
    status: str
    event: str | None = None


class WebhookSourceAnswer(Answer):
    """A webhook source (never its secret after creation)."""

    name: str
    kind: str
    description: str
    rules: list[dict[str, Any]]
    created_at: str
    updated_at: str


class NewWebhookSourceAnswer(WebhookSourceAnswer):
    """A source as created or rotated: the secret, shown this once."""

    secret: str


class WebhookSourcePage(Answer):
    items: list[WebhookSourceAnswer]
    next_cursor: str | None


class WebhookDeliveryAnswer(Answer):
    id: str
    source: str
    received_at: str
    status: str
    event: dict[str, Any]
    attempts: int
    outcomes: list[dict[str, Any]] = []


class WebhookDeliveryPage(Answer):
    items: list[WebhookDeliveryAnswer]
    next_cursor: str | None
