"""How workflows, executions and their history events are shown (tables on stdout, lines on stderr)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pilothouse.engine.model import ABORTED, FAILED, RUNNING, SUCCEEDED, TIMED_OUT

#: an execution's status (the engine's, which are Step Functions') → its style
STATUS_STYLES = {
    RUNNING: "yellow",
    SUCCEEDED: "green",
    FAILED: "bold red",
    TIMED_OUT: "bold red",
    ABORTED: "dim",
}
#: event types whose name says something went wrong
_BAD = ("Failed", "TimedOut", "Aborted")


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


def short(value: Any, limit: int = 120) -> str:
    """A value on one line, cut to ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _table(*columns: str) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    return table


def workflows_table(items: list[dict[str, Any]]) -> Table:
    table = _table("NAME", "VERSION", "DESCRIPTION", "UPDATED")
    for w in items:
        table.add_row(
            cell(w.get("name")), cell(w.get("version")), cell(w.get("description")), cell(w.get("updated_at"))
        )
    return table


def workflow_detail(w: dict[str, Any], console: Console) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key in ("name", "version", "description", "created_at", "updated_at", "updated_by"):
        if key in w:
            grid.add_row(key, cell(w.get(key)))
    console.print(grid)
    console.print("[bold]definition[/]")
    console.print(json.dumps(w.get("definition"), indent=2), markup=False, highlight=False, soft_wrap=True)


def executions_table(items: list[dict[str, Any]]) -> Table:
    table = _table("NAME", "STATUS", "VERSION", "STARTED", "STOPPED", "REDRIVES")
    for e in items:
        table.add_row(
            cell(e.get("name")),
            status_text(e.get("status")),
            cell(e.get("workflow_version")),
            cell(e.get("start_date")),
            cell(e.get("stop_date")),
            cell(e.get("redrive_count")),
        )
    return table


def execution_detail(e: dict[str, Any], console: Console) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    grid.add_row("name", cell(e.get("name")))
    grid.add_row("arn", cell(e.get("execution_arn")))
    grid.add_row("workflow", f"{cell(e.get('workflow'))} (version {cell(e.get('workflow_version'))})")
    grid.add_row("status", status_text(e.get("status")))
    grid.add_row("started", cell(e.get("start_date")))
    grid.add_row("stopped", cell(e.get("stop_date")))
    if e.get("redrive_count"):
        grid.add_row("redrives", cell(e.get("redrive_count")))
    grid.add_row("input", cell(e.get("input")))
    if e.get("status") == SUCCEEDED:
        grid.add_row("output", cell(e.get("output")))
    if e.get("error") or e.get("cause"):
        grid.add_row("error", f"[red]{cell(e.get('error'))}[/]")
        grid.add_row("cause", cell(e.get("cause")))
    for p in e.get("positions") or []:
        grid.add_row("at", position_text(p))
    for t in e.get("waiting_tasks") or []:
        grid.add_row("waiting", waiting_text(t))
    console.print(grid)


def position_text(p: dict[str, Any]) -> str:
    run = p.get("run")
    where = "" if run in (None, "root") else f" [dim]({escape(str(run))})[/]"
    phase = f" [dim]{escape(str(p.get('phase')))}[/]" if p.get("phase") else ""
    return f"[bold]{cell(p.get('state'))}[/]{phase}{where}"


def waiting_text(t: dict[str, Any]) -> str:
    kind = "a task token (callback)" if t.get("callback") else "its task"
    return f"[bold]{cell(t.get('state'))}[/] waits for {kind}: {cell(t.get('resource'))}"


def event_details(event: dict[str, Any]) -> dict[str, Any]:
    """The ``<type>EventDetails`` of a history event (empty if it has none)."""
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def event_summary(event: dict[str, Any], limit: int = 120) -> str:
    """The gist of a history event's details, on one line (plain text)."""
    d = event_details(event)
    parts = []
    if d.get("name"):
        parts.append(str(d["name"]))
    if d.get("resource"):
        parts.append(f"{d.get('resourceType', '')}:{d['resource']}".lstrip(":"))
    if d.get("error") or d.get("cause"):
        parts.append(f"{d.get('error') or ''}: {short(d.get('cause') or '', limit)}".strip(": "))
    for key in ("output", "input", "parameters"):
        if key in d and d[key] is not None:
            parts.append(f"{key} {short(d[key], limit)}")
            break
    if "index" in d:
        parts.append(f"index {d['index']}")
    return "  ".join(parts)


def event_line(event: dict[str, Any]) -> str:
    typ = str(event.get("type", ""))
    style = "red" if typ.endswith(_BAD) else "bold"
    return (
        f"[dim]{cell(event.get('id')):>4}  {cell(event.get('timestamp'))}[/]  [{style}]{escape(typ)}[/]  "
        f"{escape(event_summary(event))}"
    )


def history_table(events: list[dict[str, Any]]) -> Table:
    table = _table("ID", "TIMESTAMP", "TYPE", "DETAIL")
    for e in events:
        typ = str(e.get("type", ""))
        table.add_row(
            cell(e.get("id")),
            cell(e.get("timestamp")),
            f"[red]{escape(typ)}[/]" if typ.endswith(_BAD) else escape(typ),
            cell(event_summary(e)),
        )
    return table
