"""How deployments are shown: the list table, the detail view (steps, weights, analysis, approvals,
what the deployment waits for) and the compact live view of ``watch`` / ``--wait``; built from the
pieces in :mod:`pilothouse.cli.deployment_text`."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from pilothouse.cli.deployment_text import (
    FINAL,
    LIVE_STEPS,
    DeploymentStatus,
    cell,
    duration,
    measurement_text,
    new_table,
    status_text,
    step_status,
    step_text,
    strategy_text,
    verdict_text,
    versions_text,
    waiting_text,
    weights_bar,
)

# -- tables and views --------------------------------------------------------------------------------


def deployments_table(items: list[dict[str, Any]]) -> Table:
    table = new_table("ID", "COMPONENT", "ENV", "VERSION", "STRATEGY", "STATUS", "CREATED")
    for d in items:
        table.add_row(
            cell(d.get("id")),
            cell(d.get("component")),
            cell(d.get("environment")),
            escape(versions_text(d)),
            escape(strategy_text(d.get("strategy"), d.get("steps"))),
            status_text(d.get("status")),
            cell(d.get("created_at")),
        )
    return table


def steps_table(d: dict[str, Any], window: int | None = None) -> Table:
    """The steps, the current one marked; ``window``: at most that many rows, around the current step."""
    table = new_table("", "#", "STEP", "STATUS", "STARTED", "FINISHED", "TOOK")
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
    table = new_table("STEP", "AT", "REQUESTS", "ERROR RATE", "P99", "HEALTH", "VERDICT", "REASONS")
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
    grid.add_row("strategy", escape(strategy_text(d.get("strategy"), d.get("steps"))))
    grid.add_row("workflow", cell(d.get("workflow")))
    status = status_text(d.get("status"))
    flags = []
    if d.get("paused") and d.get("status") != DeploymentStatus.PAUSED:
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
        f"[dim]{escape(strategy_text(d.get('strategy'), d.get('steps')))}[/]  {status_text(d.get('status'))}"
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
