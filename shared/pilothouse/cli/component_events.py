"""``components events NAME --follow``: the latest events of a component, then new ones as they come."""

from __future__ import annotations

import time
from typing import Any

from pilothouse.cli.client import Client
from pilothouse.cli.render import event_line, out


def _path(name: str, suffix: str = "") -> str:
    return f"/v1/components/{name}{suffix}"


def follow_events(
    client: Client,
    name: str,
    *,
    limit: int,
    interval: float,
    as_json: bool,
    sleep=None,
    max_polls: int | None = None,
) -> None:
    """Print the latest ``limit`` events, then new ones as they come, until Ctrl-C (or ``max_polls``)."""
    import json

    sleep = sleep or time.sleep
    console = out()
    seen: set[str] = set()
    polls = 0
    try:
        while True:
            if polls == 0:
                page = client.get(_path(name, "/events"), limit=limit, order="desc")
                fresh = page.get("items", [])
            else:
                fresh = _newer_than(client, name, seen)
            for e in reversed(fresh):
                seen.add(e.get("id"))
                if as_json:
                    print(json.dumps(e), flush=True)
                else:
                    console.print(event_line(e), soft_wrap=True)
            polls += 1
            if max_polls is not None and polls >= max_polls:
                return
            sleep(interval)
    except KeyboardInterrupt:
        return


def _newer_than(client: Client, name: str, seen: set[str]) -> list[dict[str, Any]]:
    """The events after the newest one seen, newest first: pages back until a seen one (or the start)."""
    newer: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.get(_path(name, "/events"), limit=100, order="desc", cursor=cursor)
        for e in page.get("items", []):
            if e.get("id") in seen:
                return newer
            newer.append(e)
        cursor = page.get("next_cursor")
        if not cursor:
            return newer
