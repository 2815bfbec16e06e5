"""The pieces deployments are shown with: a status, a strategy, a step, weights, a measurement and
what a deployment waits for, each as (markup) text. The tables and views that assemble them are in
:mod:`pilothouse.cli.deployment_render`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from pilothouse.cli.prog import program
from pilothouse.domain.statuses import FINAL, STATUSES, DeploymentStatus

__all__ = ["BAD_ENDS", "FINAL", "STATUSES", "DeploymentStatus"]

#: the statuses a deployment ends in without succeeding
BAD_ENDS = FINAL - {DeploymentStatus.SUCCEEDED}

STATUS_STYLES: dict[str, str] = {
    DeploymentStatus.PENDING: "cyan",
    DeploymentStatus.IN_PROGRESS: "yellow",
    DeploymentStatus.PAUSED: "magenta",
    DeploymentStatus.AWAITING_APPROVAL: "bold magenta",
    DeploymentStatus.SUCCEEDED: "green",
    DeploymentStatus.ROLLING_BACK: "bold yellow",
    DeploymentStatus.ROLLED_BACK: "bold red",
    DeploymentStatus.FAILED: "bold red",
    DeploymentStatus.ABORTED: "red",
}
#: step status → (icon, style)
STEP_ICONS = {
    "pending": ("○", "dim"),
    "running": ("▶", "yellow"),
    "waiting": ("⏸", "magenta"),
    "succeeded": ("✓", "green"),
    "failed": ("✗", "bold red"),
    "skipped": ("↷", "dim"),
}
BAR_WIDTH = 30
#: the most steps the live view shows (a window around the current one)
LIVE_STEPS = 10


def cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, dict | list):
        value = json.dumps(value, separators=(",", ":"))
    return escape(str(value))


def status_text(status: str | None) -> str:
    if not status:
        return "-"
    return f"[{STATUS_STYLES.get(status, 'white')}]{escape(status)}[/]"


def new_table(*columns: str) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    return table


# -- pieces ------------------------------------------------------------------------------------------


def seconds_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, rest = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s" if rest else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _parse(at: str | None) -> datetime | None:
    if not at:
        return None
    try:
        return datetime.fromisoformat(str(at).replace("Z", "+00:00"))
    except ValueError:
        return None


def duration(started: str | None, finished: str | None) -> str:
    a, b = _parse(started), _parse(finished)
    if a is None or b is None:
        return "-"
    return seconds_text(max((b - a).total_seconds(), 0))


def strategy_text(strategy: Any, plan: list[Any] | None = None) -> str:
    """``Canary10Percent5Minutes`` for a preset, else the type with its parameters: ``canary 10% / 5m``.
    A custom strategy counts the steps of its ``plan`` (the deployment's steps, ``prepare``
    included) when given, else the steps it names."""
    if not strategy:
        return "-"
    if isinstance(strategy, str):
        return strategy
    if strategy.get("preset"):
        return str(strategy["preset"])
    kind = str(strategy.get("type") or "all-at-once")
    params = []
    if strategy.get("percentage") is not None:
        params.append(f"{strategy['percentage']}%")
    if strategy.get("interval_seconds"):
        params.append(seconds_text(strategy["interval_seconds"]))
    if strategy.get("batch_size") is not None:
        params.append(f"batch {strategy['batch_size']}")
    if strategy.get("approval"):
        params.append("approval")
    if kind == "custom" and (plan or strategy.get("steps")):
        params.append(f"{len(plan or strategy['steps'])} steps")
    if strategy.get("workflow"):
        params.append(f"workflow {strategy['workflow']}")
    return f"{kind} {' / '.join(params)}".strip()


def versions_text(d: dict[str, Any]) -> str:
    return f"{d.get('from_version') or '∅'} → {d.get('to_version') or '∅'}"


def step_text(s: dict[str, Any]) -> str:
    """What a step does, in words."""
    kind = s.get("kind")
    if kind == "set_weight":
        return f"set weight {s.get('weight')}%"
    if kind == "pause":
        return (
            f"pause {seconds_text(s['seconds'])}" if s.get("seconds") is not None else "pause until promoted"
        )
    if kind == "replicas":
        return f"{s.get('revision')} replicas → {s.get('replicas')}"
    if kind == "prepare":
        return f"prepare ({s['replicas']} replicas)" if s.get("replicas") is not None else "prepare"
    if kind == "approval":
        return "approval"
    if kind == "analysis":
        a = s.get("analysis") or {}
        limits = []
        if a.get("max_error_rate") is not None:
            limits.append(f"errors ≤ {float(a['max_error_rate']):.1%}")
        if a.get("max_p99_ms") is not None:
            limits.append(f"p99 ≤ {a['max_p99_ms']:g} ms")
        if a.get("measurements", 1) > 1:
            limits.append(f"{a['measurements']}×")
        return "analysis" + (f" ({', '.join(limits)})" if limits else "")
    return str(kind)


def step_status(status: str | None) -> str:
    icon, style = STEP_ICONS.get(status or "pending", ("?", "white"))
    return f"[{style}]{icon} {escape(status or 'pending')}[/]"


def weights_bar(weights: dict[str, Any] | None, to_version: str | None = None) -> RenderableType:
    """One bar per revision, the new one first: ``rev  ██████░░░░  60%``."""
    if not weights:
        return Text("no traffic yet", style="dim")
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_column(justify="right")
    for rev, pct in sorted(weights.items(), key=lambda kv: (-float(kv[1] or 0), str(kv[0]))):
        pct = float(pct or 0)
        full = int(round(BAR_WIDTH * pct / 100))
        style = "green" if to_version and str(rev).startswith(str(to_version)) else "cyan"
        bar = f"[{style}]{'█' * full}[/][dim]{'░' * (BAR_WIDTH - full)}[/]"
        grid.add_row(escape(str(rev)), bar, f"{pct:g}%")
    return grid


def weights_line(weights: dict[str, Any] | None) -> str:
    if not weights:
        return "no traffic yet"
    parts = sorted(weights.items(), key=lambda kv: -float(kv[1] or 0))
    return " · ".join(f"{rev} {float(p or 0):g}%" for rev, p in parts)


def measurement_text(m: dict[str, Any]) -> str:
    metrics = m.get("metrics") or {}
    parts = [f"{metrics.get('requests', 0)} req"]
    if metrics.get("error_rate") is not None:
        parts.append(f"errors {float(metrics['error_rate']):.1%}")
    if metrics.get("p99_ms") is not None:
        parts.append(f"p99 {float(metrics['p99_ms']):.0f} ms")
    health = m.get("health")
    if health is not None:
        parts.append(
            "healthy"
            if health.get("healthy")
            else f"{health.get('failing')}/{health.get('checked')} unhealthy"
        )
    if metrics.get("alarms_in_alarm"):
        parts.append("alarms: " + ", ".join(metrics["alarms_in_alarm"]))
    return ", ".join(parts)


def verdict_text(m: dict[str, Any]) -> str:
    verdict = m.get("verdict") or "-"
    style = {"pass": "green", "fail": "bold red", "no_data": "yellow"}.get(verdict, "white")
    counted = m.get("counted_as")
    extra = f" [dim](counted as {escape(str(counted))})[/]" if counted and counted != verdict else ""
    return f"[{style}]{escape(str(verdict))}[/]{extra}"


def waiting_text(d: dict[str, Any]) -> str | None:
    """What the deployment waits for and the command that moves it on (None if it waits for nothing)."""
    waiting = d.get("waiting_for")
    token = d.get("pending_token") or {}
    dep_id = escape(str(d.get("id")))
    since = f" since {escape(str(token['since']))}" if token.get("since") else ""
    if waiting == "approval":
        return (
            f"[bold magenta]⏸ waiting for approval[/]{since} — run: {program()} deployments approve {dep_id} "
            f"(or reject {dep_id})"
        )
    if waiting == "pause":
        if token.get("seconds") is not None:
            return (
                f"[magenta]⏸ baking for {seconds_text(token['seconds'])}[/]{since} — to skip it: "
                f"{program()} deployments promote {dep_id}"
            )
        return (
            f"[bold magenta]⏸ paused until promoted[/]{since} — run: {program()} deployments promote {dep_id}"
        )
    if waiting == "gate":
        return f"[bold magenta]⏸ paused[/]{since} — run: {program()} deployments resume {dep_id}"
    if waiting:
        return f"[magenta]⏸ waiting for {escape(str(waiting))}[/]{since}"
    return None
