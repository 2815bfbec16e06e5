"""How deployments are shown: the list table, the detail view (steps, weights, analysis, approvals,
what the deployment waits for), the compact live view of ``watch`` / ``--wait``, and freezes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

FINAL = frozenset({"succeeded", "rolled_back", "failed", "aborted"})
BAD_ENDS = frozenset({"rolled_back", "failed", "aborted"})
STATUSES = (
    "pending",
    "in_progress",
    "paused",
    "awaiting_approval",
    "succeeded",
    "rolling_back",
    "rolled_back",
    "failed",
    "aborted",
)

STATUS_STYLES = {
    "pending": "cyan",
    "in_progress": "yellow",
    "paused": "magenta",
    "awaiting_approval": "bold magenta",
    "succeeded": "green",
    "rolling_back": "bold yellow",
    "rolled_back": "bold red",
    "failed": "bold red",
    "aborted": "red",
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


def _table(*columns: str) -> Table:
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


def strategy_text(strategy: Any) -> str:
    """``Canary10Percent5Minutes`` for a preset, else the type with its parameters: ``canary 10% / 5m``."""
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
    if kind == "custom" and strategy.get("steps"):
        params.append(f"{len(strategy['steps'])} steps")
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
            f"[bold magenta]⏸ waiting for approval[/]{since} — run: pilothouse deployments approve {dep_id} "
            f"(or reject {dep_id})"
        )
    if waiting == "pause":
        if token.get("seconds") is not None:
            return (
                f"[magenta]⏸ baking for {seconds_text(token['seconds'])}[/]{since} — to skip it: "
                f"pilothouse deployments promote {dep_id}"
            )
        return (
            f"[bold magenta]⏸ paused until promoted[/]{since} — run: pilothouse deployments promote {dep_id}"
        )
    if waiting == "gate":
        return f"[bold magenta]⏸ paused[/]{since} — run: pilothouse deployments resume {dep_id}"
    if waiting:
        return f"[magenta]⏸ waiting for {escape(str(waiting))}[/]{since}"
    return None


# -- tables and views --------------------------------------------------------------------------------


def deployments_table(items: list[dict[str, Any]]) -> Table:
    table = _table("ID", "COMPONENT", "ENV", "VERSION", "STRATEGY", "STATUS", "CREATED")
    for d in items:
        table.add_row(
            cell(d.get("id")),
            cell(d.get("component")),
            cell(d.get("environment")),
            escape(versions_text(d)),
            escape(strategy_text(d.get("strategy"))),
            status_text(d.get("status")),
            cell(d.get("created_at")),
        )
    return table


def steps_table(d: dict[str, Any], window: int | None = None) -> Table:
    """The steps, the current one marked; ``window``: at most that many rows, around the current step."""
    table = _table("", "#", "STEP", "STATUS", "STARTED", "FINISHED", "TOOK")
    current = d.get("current_step")
    steps = d.get("steps") or []
    if window is not None and len(steps) > window:
        at = current if current is not None else (len(steps) - 1 if d.get("status") in FINAL else 0)
        first = max(0, min(at - window // 2, len(steps) - window))
        steps = steps[first : first + window]
        table.caption = f"steps {first}–{first + len(steps) - 1} of {len(d['steps'])}"
    for s in steps:
        here = s.get("index") == current and d.get("status") not in FINAL
        table.add_row(
            "[bold]▸[/]" if here else "",
            cell(s.get("index")),
            escape(step_text(s)),
            step_status(s.get("status")),
            cell(s.get("started_at")),
            cell(s.get("finished_at")),
            duration(s.get("started_at"), s.get("finished_at")),
        )
    return table


def analysis_table(measurements: list[dict[str, Any]]) -> Table:
    table = _table("STEP", "AT", "REQUESTS", "ERROR RATE", "P99", "HEALTH", "VERDICT", "REASONS")
    for m in measurements:
        metrics = m.get("metrics") or {}
        health = m.get("health")
        rate = metrics.get("error_rate")
        p99 = metrics.get("p99_ms")
        table.add_row(
            cell(m.get("step")),
            cell(m.get("at")),
            cell(metrics.get("requests")),
            "-" if rate is None else f"{float(rate):.1%}",
            "-" if p99 is None else f"{float(p99):.0f} ms",
            "-"
            if health is None
            else (
                "[green]healthy[/]"
                if health.get("healthy")
                else f"[red]{health.get('failing')}/{health.get('checked')} unhealthy[/]"
            ),
            verdict_text(m),
            cell("; ".join(m.get("reasons") or [])),
        )
    return table


def approval_line(a: dict[str, Any]) -> str:
    ok = a.get("decision") == "approved"
    mark = "[green]✓ approved[/]" if ok else "[bold red]✗ rejected[/]"
    who = a.get("name") or a.get("by")
    by = f"{who} ({a['by']})" if a.get("name") and a.get("by") and a["name"] != a["by"] else who
    comment = f": {escape(str(a['comment']))}" if a.get("comment") else ""
    return f"{mark} by {cell(by)} at {cell(a.get('at'))}{comment}"


def header(d: dict[str, Any]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("deployment", cell(d.get("id")))
    grid.add_row("component", f"{cell(d.get('component'))} [dim]({cell(d.get('environment'))})[/]")
    grid.add_row("command", cell(d.get("command")))
    grid.add_row("version", escape(versions_text(d)))
    grid.add_row("strategy", escape(strategy_text(d.get("strategy"))))
    grid.add_row("workflow", cell(d.get("workflow")))
    status = status_text(d.get("status"))
    flags = []
    if d.get("paused") and d.get("status") != "paused":
        flags.append("pause requested")
    if d.get("promote_full"):
        flags.append("fully promoted")
    if flags:
        status += f" [dim]({', '.join(flags)})[/]"
    grid.add_row("status", status)
    grid.add_row("started by", cell(d.get("initiated_by")))
    grid.add_row("created", cell(d.get("created_at")))
    grid.add_row("updated", cell(d.get("updated_at")))
    if d.get("finished_at"):
        grid.add_row(
            "finished",
            f"{cell(d['finished_at'])} [dim](took {duration(d.get('created_at'), d['finished_at'])})[/]",
        )
    abort = d.get("abort_requested")
    if abort:
        what = "break-glass rollback" if abort.get("break_glass") else "abort"
        reason = f": {escape(str(abort['reason']))}" if abort.get("reason") else ""
        grid.add_row(
            "[red]" + what + "[/]", f"requested by {cell(abort.get('by'))} at {cell(abort.get('at'))}{reason}"
        )
    if d.get("error"):
        grid.add_row("[bold red]error[/]", f"[red]{escape(str(d['error']))}[/]")
    return grid


def deployment_detail(d: dict[str, Any]) -> RenderableType:
    """The full view of ``deployments get``."""
    parts: list[RenderableType] = [header(d)]
    waiting = waiting_text(d)
    if waiting and d.get("status") not in FINAL:
        parts += [Text(""), Text.from_markup(waiting)]
    if d.get("steps"):
        parts += [Text(""), Text("steps", style="bold underline"), steps_table(d)]
    parts += [
        Text(""),
        Text("traffic", style="bold underline"),
        weights_bar(d.get("weights"), d.get("to_version")),
    ]
    if d.get("analysis"):
        parts += [Text(""), Text("analysis", style="bold underline"), analysis_table(d["analysis"])]
    if d.get("approvals"):
        parts += [Text(""), Text("approvals", style="bold underline")]
        parts += [Text.from_markup(approval_line(a)) for a in d["approvals"]]
    return Group(*parts)


def deployment_live(d: dict[str, Any]) -> RenderableType:
    """The compact view shown while following a deployment: a title line, steps, weights, the last
    measurement and what it waits for."""
    title = (
        f"[bold]deployment {cell(d.get('id'))}[/]  {cell(d.get('component'))} {escape(versions_text(d))}  "
        f"[dim]{escape(strategy_text(d.get('strategy')))}[/]  {status_text(d.get('status'))}"
    )
    parts: list[RenderableType] = [Text.from_markup(title)]
    if d.get("steps"):
        parts.append(steps_table(d, window=LIVE_STEPS))
    parts.append(weights_bar(d.get("weights"), d.get("to_version")))
    if d.get("analysis"):
        last = d["analysis"][-1]
        parts.append(
            Text.from_markup(
                f"last analysis (step {cell(last.get('step'))}): {verdict_text(last)} — "
                f"{escape(measurement_text(last))}"
                + (f" [red]{escape('; '.join(last['reasons']))}[/]" if last.get("reasons") else "")
            )
        )
    waiting = waiting_text(d)
    if waiting and d.get("status") not in FINAL:
        parts.append(Text.from_markup(waiting))
    if d.get("error"):
        parts.append(Text.from_markup(f"[bold red]error:[/] {escape(str(d['error']))}"))
    return Group(*parts)


def deployment_event_line(e: dict[str, Any]) -> str:
    extra = {k: v for k, v in e.items() if k not in ("id", "deployment", "at", "type", "actor")}
    tail = f"  {escape(json.dumps(extra, separators=(',', ':'), default=str))}" if extra else ""
    bad = str(e.get("type", "")).endswith(("failed", "rolled_back", "aborted", "rejected"))
    style = "red" if bad else "bold"
    actor = f"[dim]{cell(e.get('actor'))}[/]"
    return f"[dim]{cell(e.get('at'))}[/]  [{style}]{cell(e.get('type'))}[/]  {actor}{tail}"


def freezes_table(items: list[dict[str, Any]]) -> Table:
    table = _table("SCOPE", "TARGET", "REASON", "BY", "AT")
    for f in items:
        table.add_row(
            cell(f.get("scope")),
            cell(f.get("target")),
            cell(f.get("reason")),
            cell(f.get("by")),
            cell(f.get("at")),
        )
    return table
