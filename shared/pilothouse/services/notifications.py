"""Notification channels (DESIGN §12's Event Manager, its way out): create, read, delete, test,
their delivery log and redelivery. Delivery itself is :mod:`pilothouse.services.notification_delivery`.

A channel's URL is checked by the outbound guard when it is created (a refused URL is a 422 then,
never a request) and again on every delivery: HTTPS only (plain HTTP only to a loopback address on
the embedded default, i.e. in development), no metadata, link-local or private addresses unless the
host is on ``settings.notifications_private_hosts``, every resolved address checked.
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import Any

from pilothouse.clock import iso
from pilothouse.domain.notifications import ChannelRequest, display_url
from pilothouse.errors import Conflict, ValidationFailed
from pilothouse.repositories.notifications import ChannelRepository, DeliveryRepository
from pilothouse.services.context import ServiceContext
from pilothouse.services.sealing import seal

_HIDDEN = ("url_sealed", "secret_sealed")


def channels(services: ServiceContext) -> ChannelRepository:
    return ChannelRepository(services.store)


def deliveries(services: ServiceContext) -> DeliveryRepository:
    return DeliveryRepository(services.store)


def development(services: ServiceContext) -> bool:
    """The embedded default (SQLite or memory store): plain HTTP may reach loopback."""
    return services.settings.store in ("sqlite", "memory")


def _is_loopback(address: str) -> bool:
    return ipaddress.ip_address(address).is_loopback


def guard(services: ServiceContext, url: str, *, resolver: Any = None) -> tuple[Any, Any]:
    """The policy a channel URL is requested under and its checked destination; OutboundRefused
    (with the reason) when the URL may not be requested, OSError when its name does not resolve."""
    from pilothouse.net.outbound import OutboundPolicy, OutboundRefused, check_url, resolve

    settings = services.settings
    listed = settings.notifications_private_hosts
    first = check_url(url, OutboundPolicy(allow_private=True, allow_hosts=settings.outbound_allow_hosts))
    private_ok = any(first.host == h or (h.startswith("*.") and first.host.endswith(h[1:])) for h in listed)
    loopback_dev = development(services) and (
        first.host in ("localhost", "::1") or first.host.startswith("127.")
    )
    policy = OutboundPolicy(
        allow_private=private_ok or loopback_dev, allow_hosts=settings.outbound_allow_hosts
    )
    dest = resolve(url, policy, resolver=resolver)
    if loopback_dev and not private_ok and not all(_is_loopback(a) for a in dest.addresses):
        raise OutboundRefused(f"{first.host} resolves outside loopback")
    if dest.scheme != "https" and not (loopback_dev and all(_is_loopback(a) for a in dest.addresses)):
        raise OutboundRefused("notification URLs must use https (plain http only to loopback in development)")
    return policy, dest


def public(channel: dict[str, Any]) -> dict[str, Any]:
    """A channel as answers show it: no URL path, no secret (sealed or not)."""
    out = {k: v for k, v in channel.items() if k not in _HIDDEN}
    out["signed"] = channel.get("secret_sealed") is not None
    return out


def create_channel(
    services: ServiceContext, request: ChannelRequest, *, actor: str
) -> tuple[dict[str, Any], str | None]:
    """Create a channel; its public view and, for a generic webhook, its signing secret (shown
    this once). 422 naming ``url`` if the outbound guard refuses the URL; 409 if the name is taken."""
    from pilothouse.net.outbound import OutboundRefused

    try:
        guard(services, request.url)
    except OutboundRefused as exc:
        raise ValidationFailed.field("url", f"refused by the outbound guard: {exc.reason}") from None
    except OSError as exc:
        raise ValidationFailed.field("url", f"the host does not resolve: {exc}") from None
    channel_id = "ch_" + secrets.token_hex(8)
    secret = "whsec_" + secrets.token_urlsafe(32) if request.kind == "webhook" else None
    data: dict[str, Any] = {
        "id": channel_id,
        "name": request.name,
        "kind": request.kind,
        "url_sealed": seal(services, request.url, context=f"channel:{channel_id}:url"),
        "url_display": display_url(request.url),
        "subscriptions": [s.model_dump(mode="json") for s in request.subscriptions],
        "description": request.description,
        "created_at": iso(services.clock.time()),
        "created_by": actor,
    }
    if secret is not None:
        data["secret_sealed"] = seal(services, secret, context=f"channel:{channel_id}:secret")
    channels(services).create(data)
    return public(data), secret


def get_channel(services: ServiceContext, name: str) -> dict[str, Any]:
    return public(channels(services).require(name))


def list_channels(services: ServiceContext) -> list[dict[str, Any]]:
    return [public(c) for c in sorted(channels(services).all(), key=lambda c: c["name"])]


def delete_channel(services: ServiceContext, name: str) -> None:
    """Delete a channel (its delivery log stays until it expires; deliveries in flight stop)."""
    channels(services).delete(name)


def list_deliveries(
    services: ServiceContext, name: str, *, limit: int, cursor: str | None, status: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    channels(services).require(name)
    return deliveries(services).list(name, limit=limit, cursor=cursor, status=status)


def test_channel(services: ServiceContext, name: str, *, actor: str) -> dict[str, Any]:
    """Send a ``notification.test`` event to this channel alone (not through the subscriptions)."""
    from pilothouse.services.notification_delivery import enqueue

    channel = channels(services).require(name)
    now = services.clock.time()
    event = {
        "id": "evt_test" + secrets.token_hex(8),
        "source": "notifications",
        "type": "notification.test",
        "at": iso(now),
        "summary": f"a test from {actor}",
        "detail": {"channel": name, "actor": actor},
    }
    return enqueue(services, channel, event, at_epoch=now)


def redeliver(services: ServiceContext, name: str, delivery: str, *, actor: str) -> dict[str, Any]:
    """Send a delivered or dead-lettered delivery again (its log keeps the earlier attempts);
    409 while it is still being delivered."""
    from pilothouse.services.notification_delivery import send_message

    channels(services).require(name)

    def reset(d: dict[str, Any]) -> bool:
        if d["status"] not in ("delivered", "dead_lettered"):
            raise Conflict(f"delivery {delivery!r} is {d['status']}: only a finished delivery is redelivered")
        d.update(
            status="pending", attempts=0, redelivered_by=actor, next_attempt_at=None, dead_lettered_at=None
        )
        return True

    item = deliveries(services).change(name, delivery, reset)
    assert item is not None
    send_message(services, name, delivery)
    return item.data
