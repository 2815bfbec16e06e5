"""Following a deployment as it moves: ``deployments watch`` and the deployment part of ``--wait``.

A :class:`Tracker` reads the deployment each poll and prints one line for each change worth a line
(status, a step ending, the traffic moving, a new measurement, a wait for a person) so that a log or a
non-terminal keeps the story; a terminal also gets the live view (:func:`deployment_live`) below them.
The record may appear a moment after the command's 202: until it does a read answers 404, which is
not an error here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner

from pilothouse.cli.client import ApiError, Client
from pilothouse.cli.deployment_render import deployment_live
from pilothouse.cli.deployment_text import (
    FINAL,
    measurement_text,
    status_text,
    step_status,
    step_text,
    verdict_text,
    waiting_text,
    weights_line,
)


class Tracker:
    """The latest view of one deployment and the lines its changes deserve."""

    def __init__(self, client: Client, deployment_id: str, console: Console, *, errors: bool = True):
        self.client, self.id, self.console = client, deployment_id, console
        self.view: dict[str, Any] | None = None
        #: print the error a deployment ended with (a component's wait does not: its event and its
        #: closing report say it already)
        self.errors = errors

    @property
    def final(self) -> bool:
        return self.view is not None and self.view.get("status") in FINAL

    def poll(self) -> dict[str, Any] | None:
        """Read the deployment (None while it does not exist yet) and print what changed."""
        try:
            view = self.client.get(f"/v1/deployments/{self.id}")
        except ApiError as exc:
            if exc.status == 404:
                return self.view
            raise
        for line in changes(self.view, view, errors=self.errors):
            self.console.print(f"  {line}", soft_wrap=True)
        self.view = view
        return view


def changes(old: dict[str, Any] | None, new: dict[str, Any], *, errors: bool = True) -> list[str]:
    """Lines for what differs between two views of a deployment (all of it if ``old`` is None)."""
    lines: list[str] = []
    dep = escape(str(new.get("id")))
    if old is None or old.get("status") != new.get("status"):
        before = f"{status_text(old.get('status'))} → " if old else ""
        lines.append(f"[bold]deployment[/] {dep}: {before}{status_text(new.get('status'))}")
    seen = len((old or {}).get("analysis") or [])
    for m in (new.get("analysis") or [])[seen:]:
        reasons = f" [red]{escape('; '.join(m['reasons']))}[/]" if m.get("reasons") else ""
        lines.append(
            f"analysis (step {m.get('step')}): {verdict_text(m)} — {escape(measurement_text(m))}{reasons}"
        )
    old_steps = {s.get("index"): s for s in (old or {}).get("steps") or []}
    for s in new.get("steps") or []:
        was = old_steps.get(s.get("index"), {}).get("status", "pending")
        status = s.get("status")
        ended = status in ("succeeded", "failed", "skipped")
        if status != was and (ended or (status == "running" and old is not None)):
            lines.append(f"step {s.get('index')} {escape(step_text(s))}: {step_status(status)}")
    if (old or {}).get("weights") != new.get("weights") and new.get("weights"):
        lines.append(f"traffic: {escape(weights_line(new.get('weights')))}")
    for a in (new.get("approvals") or [])[len((old or {}).get("approvals") or []) :]:
        lines.append(f"{escape(str(a.get('decision')))} by {escape(str(a.get('name') or a.get('by')))}")
    waiting = new.get("waiting_for")
    if waiting and (old is None or old.get("waiting_for") != waiting) and new.get("status") not in FINAL:
        lines.append(waiting_text(new) or "")
    ended_badly = new.get("status") in FINAL and new.get("error")
    if errors and ended_badly and (old or {}).get("error") != new.get("error"):
        lines.append(f"[bold red]error:[/] {escape(str(new['error']))}")
    return lines


def live_view(headline: str, deployment: dict[str, Any] | None) -> RenderableType:
    """A spinner with ``headline``, and the deployment below it once it exists."""
    spinner = Spinner("dots", text=headline)
    return spinner if deployment is None else Group(spinner, deployment_live(deployment))


def live(console: Console, headline: str) -> Live:
    """The live area (transient: the lines printed above it are the record that stays)."""
    return Live(live_view(headline, None), console=console, transient=True, refresh_per_second=8)


def follow(
    client: Client,
    deployment_id: str,
    *,
    console: Console,
    timeout: float | None = None,
    interval: float = 0.5,
    missing_grace: float = 10.0,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> tuple[dict[str, Any] | None, bool]:
    """Poll the deployment until it ends: (its last view, whether time ran out).

    A deployment that still does not exist after ``missing_grace`` seconds is a 404 after all.
    """
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    start = clock()
    deadline = None if timeout is None else start + timeout
    tracker = Tracker(client, deployment_id, console)
    with live(console, f"deployment {escape(deployment_id)}") as area:
        while True:
            view = tracker.poll()
            if view is None and clock() - start >= missing_grace:
                client.get(f"/v1/deployments/{deployment_id}")  # raises the API's 404
            if tracker.final:
                return view, False
            if deadline is not None and clock() >= deadline:
                return view, True
            area.update(live_view(_headline(view, deployment_id), view))
            sleep(interval)


def _headline(view: dict[str, Any] | None, deployment_id: str) -> str:
    status = view.get("status") if view else "not started yet"
    return f"deployment {escape(deployment_id)}: {escape(str(status))}"
