"""Following a long command (deploy, update, scale, stop, retry, rollback) until the component comes to rest.

The command's 202 answer names its operation; the component's events for that operation are
shown as they arrive. Success means the component rests in the state the command aims for and
carries no error: a failed update or scale that left the old version serving ends Running but
with ``last_error`` set (``update.reverted`` / ``scale.failed``), which is a failure too.

Deploy, update, retry and rollback run as *deployments* whose id is the operation's id: while
waiting, the deployment is shown live (steps, traffic, analysis, what it waits for) and the wait
ends when both the component rests and the deployment has ended. A deployment that ends
rolled_back, failed or aborted fails the wait. The record may appear a moment after the 202 (404
until then); a server that keeps no deployment records is judged by the component alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from pilothouse.cli.client import Client
from pilothouse.cli.deployment_follow import Tracker, live, live_view
from pilothouse.cli.deployment_text import FINAL, DeploymentStatus, status_text, strategy_text
from pilothouse.cli.prog import program
from pilothouse.cli.render import event_line, print_logs, state_text
from pilothouse.domain.lifecycle import TRANSITIONAL, Command, State

if TYPE_CHECKING:
    from rich.live import Live
    from rich.status import Status

POLL_SECONDS = 0.3
#: the commands that run as deployments (the operation's id is the deployment's)
DEPLOYING = frozenset({Command.DEPLOY, Command.UPDATE, Command.RETRY, "rollback"})
#: polls a component may rest while its deployment has not ended, before the component's word is taken
SETTLE_POLLS = 20


@dataclass
class WaitResult:
    ok: bool
    view: dict[str, Any]
    timed_out: bool = False
    reason: str | None = None
    logs: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    deployment: dict[str, Any] | None = None


def goal_state(command: str) -> str:
    return State.STOPPED if command == Command.STOP else State.RUNNING


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
    deployment: bool | None = None,
) -> WaitResult:
    """Poll the component from its 202 ``view`` until it leaves its transitional state (and its
    deployment, if it has one, has ended) or time runs out.

    ``deployment``: follow the operation's deployment too (default: for the commands in DEPLOYING).
    """
    interval = POLL_SECONDS if interval is None else interval
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    name = view["name"]
    op_id = (view.get("operation") or {}).get("id")
    feed = _EventFeed(client, name, op_id)
    track = command in DEPLOYING if deployment is None else deployment
    tracker = Tracker(client, op_id, console, errors=False) if (track and op_id) else None
    deadline = clock() + timeout
    settle = 0
    area: Live | Status
    if tracker is not None:
        area = live(console, _status(name, view))

        def show() -> None:
            area.update(live_view(_status(name, view), tracker.view))
    else:
        area = console.status(_status(name, view), spinner="dots")

        def show() -> None:
            area.update(_status(name, view))

    with area:
        while True:
            # the deployment first: its steps lead to the component's events (a step, then the
            # command's end), so what one poll finds reads in the order it happened
            dep = tracker.poll() if tracker is not None else None
            for e in feed.poll():
                console.print(f"  {event_line(e)}", soft_wrap=True)
            at_rest = view.get("state") not in TRANSITIONAL
            if at_rest and (dep is None or (tracker is not None and tracker.final) or settle >= SETTLE_POLLS):
                break
            settle += at_rest
            if clock() >= deadline:
                still = f"; deployment {op_id} is {dep.get('status')}" if dep else ""
                return WaitResult(
                    False,
                    view,
                    timed_out=True,
                    events=feed.all,
                    deployment=dep,
                    reason=f"timed out after {timeout:g}s; {name} is still {view.get('state')}{still} "
                    "(the operation goes on)",
                )
            sleep(interval)
            if not at_rest:
                view = client.get(f"/v1/components/{name}")
            show()
    return with_deployment(command, judge(command, view, feed.all), dep)


def with_deployment(command: str, result: WaitResult, dep: dict[str, Any] | None) -> WaitResult:
    """The component's verdict, corrected by how its deployment ended.

    A deployment that did not succeed fails the wait (even if the component serves the old version
    without complaint); for a rollback, a deployment rolled back to the stable version is the aim.
    """
    if dep is None:
        return result
    result.deployment = dep
    status = dep.get("status")
    if status not in FINAL:
        return result
    if (
        command == "rollback"
        and status in (DeploymentStatus.SUCCEEDED, DeploymentStatus.ROLLED_BACK)
        and result.view.get("state") == State.RUNNING
    ):
        result.ok, result.reason, result.logs = True, None, []
        return result
    if status != DeploymentStatus.SUCCEEDED and result.ok:
        result.ok = False
        result.reason = dep.get("error") or f"deployment {dep.get('id')} ended {status}"
    return result


def _status(name: str, view: dict[str, Any]) -> str:
    return f"{escape(name)}: {state_text(view.get('state'))}"


def report(result: WaitResult, command: str, console: Console) -> None:
    """One closing line for a wait, with the reason and logs of a failure."""
    v = result.view
    name = escape(str(v.get("name")))
    dep = result.deployment
    if result.ok:
        if v.get("state") == State.STOPPED:
            console.print(f"[green]✓[/] {name} is {state_text('Stopped')}")
        else:
            console.print(
                f"[green]✓[/] {name} is {state_text(v.get('state'))} at version "
                f"{escape(str(v.get('version')))} with {v.get('replicas')} replica(s): "
                f"{escape(str(v.get('url') or '-'))}"
            )
        if dep is not None:
            console.print(
                f"  deployment {escape(str(dep.get('id')))} {status_text(dep.get('status'))} "
                f"[dim]({escape(strategy_text(dep.get('strategy'), dep.get('steps')))})[/]"
            )
        return
    if result.timed_out:
        console.print(f"[yellow]⏱[/] {escape(str(result.reason))}")
        if dep is not None:
            console.print(f"  follow it with: {program()} deployments watch {escape(str(dep.get('id')))}")
        return
    console.print(
        f"[bold red]✗[/] {command} of {name} failed; it is now {state_text(v.get('state'))}"
        + (f" at version {escape(str(v.get('version')))}" if v.get("state") == State.RUNNING else "")
    )
    if dep is not None:
        error = f": {escape(str(dep['error']))}" if dep.get("error") else ""
        console.print(
            f"  deployment {escape(str(dep.get('id')))} ended {status_text(dep.get('status'))}{error}",
            soft_wrap=True,
        )
    if dep is None or not dep.get("error") or str(result.reason) not in str(dep["error"]):
        console.print(f"  reason: {escape(str(result.reason))}", soft_wrap=True)  # once, not again
    print_logs(result.logs, console)
