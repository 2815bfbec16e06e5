"""Delivering notifications from the notifications queue: one message per attempt.

A message names a delivery (``{"channel", "delivery"}``). Its handler claims the delivery with a
conditional write (status ``sending`` with a lease), POSTs through the outbound guard, and records
the attempt (status code, latency, error) in the delivery's log. A failure schedules the next
attempt by *sending its message first* (delayed by exponential back-off with jitter) and then
recording ``retrying``: a crash between the two leaves a message that finds an expired lease and
proceeds, never a delivery nobody will retry. After ``settings.notifications_max_attempts`` (6)
the delivery is dead-lettered (status ``dead_lettered``; ``redeliver`` sends it again). A
duplicate message finds the delivery finished, or leased by another worker, and does nothing.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from pilothouse.clock import clock_seconds, iso, parse_iso, wall_time
from pilothouse.domain.notifications import (
    SIGNATURE_HEADER,
    backoff_seconds,
    render,
    signature_header,
)
from pilothouse.repositories.notifications import ChannelRepository, DeliveryRepository, delivery_id
from pilothouse.services.context import ServiceContext

#: how long a claimed attempt is its worker's (above the request timeout)
LEASE_SECONDS = 45
REQUEST_TIMEOUT_SECONDS = 10.0
MAX_DELAY_SECONDS = 900
LOG_ENTRIES = 20
log = logging.getLogger(__name__)


def send_message(services: ServiceContext, channel: str, delivery: str, *, delay: float = 0) -> None:
    body = json.dumps({"channel": channel, "delivery": delivery})
    services.queue.send(
        services.settings.notifications_queue, body, delay_seconds=min(MAX_DELAY_SECONDS, delay)
    )


def enqueue(
    services: ServiceContext, channel: dict[str, Any], event: dict[str, Any], *, at_epoch: float
) -> dict[str, Any]:
    """Record ``event``'s delivery to ``channel`` (once: its id is stable) and queue its first
    attempt. A delivery recorded before but never attempted (its message lost in a crash) is
    queued again; one that was attempted is left alone."""
    now = iso(services.clock.time())
    data = {
        "id": delivery_id(event, channel["id"], at_epoch),
        "channel": channel["name"],
        "event": event,
        "status": "pending",
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }
    item, created = DeliveryRepository(services.store).create(data)
    if created or (item.data["status"] == "pending" and item.data["attempts"] == 0):
        send_message(services, channel["name"], item.data["id"])
    return item.data


def handle_message(services: ServiceContext, body: str) -> str:
    """One attempt of the delivery a queue message names; what happened, in a word."""
    message = json.loads(body)
    repo = DeliveryRepository(services.store)
    channel = ChannelRepository(services.store).get(message["channel"])
    item = repo.get(message["channel"], message["delivery"])
    if item is None:
        return "unknown"
    if channel is None:
        repo.change(item.data["channel"], item.sk, lambda d: _dead(services, d, "the channel was deleted"))
        return "channel-deleted"
    now = services.clock.time()
    d = item.data
    if d["status"] in ("delivered", "dead_lettered"):
        return "finished"
    if d["status"] == "sending" and d.get("next_attempt_at") and parse_iso(d["next_attempt_at"]) > now:
        return "leased"
    if d["status"] == "retrying" and d.get("next_attempt_at") and parse_iso(d["next_attempt_at"]) > now + 1:
        return "early"  # a duplicate of a message whose retry is not due

    def claim(data: dict[str, Any]) -> bool:
        data.update(status="sending", next_attempt_at=iso(now + clock_seconds(services.clock, LEASE_SECONDS)))
        return True

    claimed = repo.change(d["channel"], item.sk, claim, version=item.version)
    if claimed is None:
        return "lost-claim"
    code, latency_ms, error = _post(services, channel, claimed.data)
    attempt = claimed.data["attempts"] + 1
    entry = {
        "attempt": attempt,
        "at": iso(services.clock.time()),
        "status_code": code,
        "latency_ms": latency_ms,
    }
    if error:
        entry["error"] = error[:300]
    ok = code is not None and 200 <= code < 300
    settings = services.settings
    retry_in = (
        None
        if ok or attempt >= settings.notifications_max_attempts or (error or "").startswith("refused")
        else backoff_seconds(attempt, base=settings.notifications_retry_base_seconds)
    )

    def record(data: dict[str, Any]) -> bool:
        data.update(
            attempts=attempt,
            last_status_code=code,
            last_latency_ms=latency_ms,
            last_error=error,
            log=(data.get("log") or [])[-(LOG_ENTRIES - 1) :] + [entry],
        )
        if ok:
            data.update(status="delivered", delivered_at=entry["at"], next_attempt_at=None)
        elif retry_in is not None:
            data.update(status="retrying", next_attempt_at=iso(services.clock.time() + retry_in))
        else:
            _dead(services, data, error or f"HTTP {code}")
        return True

    repo.change(d["channel"], item.sk, record, version=claimed.version)
    if retry_in is not None:  # once recorded: sooner, the retry could find its attempt still leased
        send_message(services, d["channel"], d["id"], delay=retry_in)  # and be dropped as a duplicate
    outcome = "delivered" if ok else ("retrying" if retry_in is not None else "dead_lettered")
    log.info("notification %s to %s: attempt %d %s (HTTP %s)", d["id"], d["channel"], attempt, outcome, code)
    return outcome


def _dead(services: ServiceContext, data: dict[str, Any], reason: str) -> bool:
    if data["status"] in ("delivered", "dead_lettered"):
        return False
    data.update(
        status="dead_lettered",
        dead_lettered_at=iso(services.clock.time()),
        next_attempt_at=None,
        last_error=reason[:300],
    )
    return True


def _scrubbed(text: str, url: str) -> str:
    """An error's text without the channel URL's path and query (Slack's and Teams' URLs are
    credentials): what the delivery log and the logs may keep."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    for secret in (url, parts.path + ("?" + parts.query if parts.query else ""), parts.path, parts.query):
        if len(secret) > 1:
            text = text.replace(secret, "…")
    return text


def _post(
    services: ServiceContext, channel: dict[str, Any], delivery: dict[str, Any]
) -> tuple[int | None, float, str | None]:
    """POST the delivery's body: (status code or None, latency in ms, error or None). ``refused``
    is the error when the guard refuses the URL now (no retry: it will not change by itself)."""
    import httpx

    from pilothouse.net.outbound import OutboundRefused, request
    from pilothouse.services.notifications import guard
    from pilothouse.services.sealing import unseal

    url = unseal(services, channel["url_sealed"], context=f"channel:{channel['id']}:url")
    body = json.dumps(
        render(channel["kind"], delivery["event"], delivery["id"]), separators=(",", ":")
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Pilothouse-Notifications/1",
        "Pilothouse-Delivery": delivery["id"],
        "Pilothouse-Event": delivery["event"]["type"],
    }
    if channel.get("secret_sealed"):
        secret = unseal(services, channel["secret_sealed"], context=f"channel:{channel['id']}:secret")
        headers[SIGNATURE_HEADER] = signature_header(secret, body, timestamp=int(wall_time(services.clock)))
    started = time.perf_counter()
    try:
        policy, _ = guard(services, url)
        response = request(
            "POST",
            url,
            policy=policy,
            timeout=REQUEST_TIMEOUT_SECONDS,
            headers=headers,
            content=body,
            max_body_bytes=1024,
        )
    except OutboundRefused as exc:
        return None, 0.0, f"refused: {exc.reason}"
    except (httpx.HTTPError, OSError) as exc:
        return (
            None,
            round((time.perf_counter() - started) * 1000, 1),
            _scrubbed(f"{type(exc).__name__}: {exc}", url),
        )
    return response.status_code, round((time.perf_counter() - started) * 1000, 1), None
