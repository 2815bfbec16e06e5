"""Following a long command (deploy, update, scale, stop, retry) until the component comes to rest.

The command's 202 answer names its operation; the component's events for that operation are
shown as they arrive. Success means the component rests in the state the command aims for and
carries no error: a failed update or scale that left the old version serving ends Running but
with ``last_error`` set (``update.reverted`` / ``scale.failed``), which is a failure too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape

from pilothouse.cli.client import Client
from pilothouse.cli.render import event_line, print_logs, state_text

TRANSITIONAL = frozenset({"Deploying", "Updating", "Scaling", "Stopping"})
POLL_SECONDS = 0.3


@dataclass
class WaitResult:
    ok: bool
    view: dict[str, Any]
    timed_out: bool = False
    reason: str | None = None
    logs: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def goal_state(command: str) -> str:
    return "Stopped" if command == "stop" else "Running"


def judge(command: str, view: dict[str, Any], events: list[dict[str, Any]]) -> WaitResult:
    """The verdict on a component at rest after ``command``."""
    error = view.get("last_error")
    bad_end = next((e for e in events if str(e.get("type", "")).endswith((".failed", ".reverted"))), None)
    if view.get("state") == goal_state(command) and not error and bad_end is None:
        return WaitResult(True, view, events=events)
    reason = (error or {}).get("reason") or (bad_end or {}).get("reason")
    logs = (error or {}).get("logs") or (bad_end or {}).get("logs") or []
    if not reason:
        reason = f"{command} ended in state {view.get('state')}"
    return WaitResult(False, view, reason=reason, logs=list(logs), events=events)


class _EventFeed:
    """New events of one operation, oldest first, each once."""

    def __init__(self, client: Client, name: str, operation_id: str | None):
        self.client, self.name, self.operation_id = client, name, operation_id
        self.seen: set[str] = set()
        self.all: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        if not self.operation_id:
            return []
        page = self.client.get(f"/v1/components/{self.name}/events", limit=20, order="desc")
        fresh = [
            e
            for e in reversed(page.get("items", []))
            if e.get("operation_id") == self.operation_id and e.get("id") not in self.seen
        ]
        for e in fresh:
            self.seen.add(e.get("id"))
        self.all.extend(fresh)
        return fresh


def wait_for(
    client: Client,
    view: dict[str, Any],
    command: str,
    *,
    console: Console,
    timeout: float = 300.0,
    interval: float | None = None,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> WaitResult:
    """Poll the component from its 202 ``view`` until it leaves its transitional state or time runs out."""
    interval = POLL_SECONDS if interval is None else interval
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    name = view["name"]
    feed = _EventFeed(client, name, (view.get("operation") or {}).get("id"))
    deadline = clock() + timeout
    with console.status(_status(name, view), spinner="dots") as status:
        while True:
            for e in feed.poll():
                console.print(f"  {event_line(e)}", soft_wrap=True)
            if view.get("state") not in TRANSITIONAL:
                break
            if clock() >= deadline:
                return WaitResult(
                    False,
                    view,
                    timed_out=True,
                    events=feed.all,
                    reason=f"timed out after {timeout:g}s; {name} is still {view.get('state')} "
                    "(the operation goes on)",
                )
            sleep(interval)
            view = client.get(f"/v1/components/{name}")
            status.update(_status(name, view))
    return judge(command, view, feed.all)


def _status(name: str, view: dict[str, Any]) -> str:
    return f"{escape(name)}: {state_text(view.get('state'))}"


def report(result: WaitResult, command: str, console: Console) -> None:
    """One closing line for a wait, with the reason and logs of a failure."""
    v = result.view
    name = escape(str(v.get("name")))
    if result.ok:
        if v.get("state") == "Stopped":
            console.print(f"[green]✓[/] {name} is {state_text('Stopped')}")
        else:
            console.print(
                f"[green]✓[/] {name} is {state_text(v.get('state'))} at version "
                f"{escape(str(v.get('version')))} with {v.get('replicas')} replica(s): "
                f"{escape(str(v.get('url') or '-'))}"
            )
        return
    if result.timed_out:
        console.print(f"[yellow]⏱[/] {escape(str(result.reason))}")
        return
    console.print(
        f"[bold red]✗[/] {command} of {name} failed; it is now {state_text(v.get('state'))}"
        + (f" at version {escape(str(v.get('version')))}" if v.get("state") == "Running" else "")
    )
    console.print(f"  reason: {escape(str(result.reason))}", soft_wrap=True)
    print_logs(result.logs, console)
