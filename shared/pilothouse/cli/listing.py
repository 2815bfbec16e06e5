"""What list commands share: label selectors (client-side), ages, and ``--watch``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pilothouse.cli.files import InputError

#: (key, operator, value): operator "=", "!=" or "exists"
Requirement = tuple[str, str, str | None]


def parse_selector(selectors: list[str]) -> list[Requirement]:
    """``-l team=web,tier!=db -l canary``: every requirement, checked."""
    found: list[Requirement] = []
    for raw in selectors:
        for part in (p.strip() for p in raw.split(",")):
            if not part:
                continue
            if "!=" in part:
                key, _, value = part.partition("!=")
                op = "!="
            elif "=" in part:
                key, _, value = part.partition("=")
                value = value.removeprefix("=")  # key==value as kubectl takes it
                op = "="
            else:
                key, op, value = part, "exists", None
            if not key.strip():
                raise InputError(f"--selector {raw!r}: each requirement is key=value, key!=value or key")
            found.append((key.strip(), op, value.strip() if value is not None else None))
    return found


def matches(component: dict[str, Any], requirements: list[Requirement]) -> bool:
    labels = (component.get("spec") or {}).get("labels") or component.get("labels") or {}
    for key, op, value in requirements:
        if op == "exists" and key not in labels:
            return False
        if op == "=" and labels.get(key) != value:
            return False
        if op == "!=" and labels.get(key) == value:
            return False
    return True


def age(stamp: str | None, now: datetime | None = None) -> str:
    """``created_at`` as kubectl shows an age: 42s, 5m, 3h, 12d."""
    if not stamp:
        return "-"
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return "-"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def watch_changes(
    read: Callable[[], list[dict[str, Any]]],
    first: list[dict[str, Any]],
    *,
    key: str,
    fields: tuple[str, ...],
    structured: bool,
    line: Callable[[dict[str, Any]], Any],
    interval: float,
    sleep: Callable[[float], None],
    max_polls: int | None = None,
) -> None:
    """Print each item that appears or changes (in ``fields``), until Ctrl-C (or ``max_polls``)."""
    from pilothouse.cli.render import out

    console = out()
    seen = {str(i.get(key)): tuple(i.get(f) for f in fields) for i in first}
    polls = 0
    try:
        while max_polls is None or polls < max_polls:
            sleep(interval)
            polls += 1
            for item in read():
                name, state = str(item.get(key)), tuple(item.get(f) for f in fields)
                if seen.get(name) == state:
                    continue
                seen[name] = state
                if structured:
                    print(json.dumps(item, default=str), flush=True)
                else:
                    console.print(line(item))
    except KeyboardInterrupt:
        return
