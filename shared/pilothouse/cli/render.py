"""Everything the CLI prints: JSON, rich tables, and problem details on stderr."""

from __future__ import annotations

import json
import os
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pilothouse.domain.lifecycle import State

STATE_STYLES: dict[str, str] = {
    State.RUNNING: "green",
    State.STOPPED: "dim",
    State.FAILED: "bold red",
    State.REGISTERED: "cyan",
    State.DEPLOYING: "yellow",
    State.UPDATING: "yellow",
    State.SCALING: "yellow",
    State.STOPPING: "yellow",
}


HEALTH_STYLES: dict[str, str] = {
    "Healthy": "green",
    "Degraded": "yellow",
    "Unhealthy": "bold red",
    "Unknown": "dim",
}


def health_text(c: dict[str, Any]) -> str:
    """The HEALTH cell: the status, and ``healthy/total`` replicas when some are not."""
    h = c.get("health") or {}
    status = str(h.get("status") or "Unknown")
    replicas = h.get("replicas") or []
    healthy = sum(1 for r in replicas if r.get("healthy"))
    count = f" {healthy}/{len(replicas)}" if replicas and healthy != len(replicas) else ""
    return f"[{HEALTH_STYLES.get(status, 'white')}]{escape(status)}{count}[/]"


def _width(console: Console) -> int | None:
    """Not a terminal and no COLUMNS: wide enough that tables never hide what they hold."""
    if console.is_terminal or os.environ.get("COLUMNS"):
        return None
    return 200


def out() -> Console:
    console = Console(highlight=False)
    if width := _width(console):
        console.width = width
    return console


def err() -> Console:
    console = Console(stderr=True, highlight=False)
    if width := _width(console):
        console.width = width
    return console


def _table() -> Table:
    return Table(show_edge=False, pad_edge=False)


def print_json(data: Any, console: Console | None = None) -> None:
    """Raw JSON on stdout (plain print: no wrapping, no colour, safe to pipe into jq); YAML with
    ``-o yaml``."""
    from pilothouse.cli import render_format

    if render_format.STRUCTURED == "yaml":
        import yaml

        text = yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False).rstrip("\n")
    else:
        text = json.dumps(data, indent=2, sort_keys=False, default=str)
    if console is None:
        print(text)
    else:
        console.print(text, markup=False, highlight=False, soft_wrap=True)


def print_page(items: list[Any], next_cursor: str | None) -> None:
    """A listing with ``-o json``: the API's own answer, ``{"items": [...], "next_cursor": ...}`` (with
    ``--all``, every page's items and no cursor left). One rule for every list command."""
    print_json({"items": items, "next_cursor": next_cursor})


def more_hint(cursor: str | None) -> None:
    """Where the next page starts, on stderr (in every output format)."""
    if cursor:
        err().print(f"[dim]more: --cursor {cursor} (or --all)[/]")


def state_text(state: str | None) -> str:
    if not state:
        return "-"
    return f"[{STATE_STYLES.get(state, 'white')}]{escape(state)}[/]"


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else escape(str(value))


def components_table(items: list[dict[str, Any]], *, wide: bool = False, header: bool = True) -> Table:
    from pilothouse.cli.listing import age

    table = _table()
    table.show_header = header
    columns = ["NAME", "STATE", "HEALTH", "ENV", "PROVIDER", "VERSION", "REPLICAS", "URL", "AGE"]
    if wide:
        columns += ["LABELS", "OPERATION", "UPDATED"]
    for col in columns:
        table.add_column(col, overflow="fold", justify="right" if col == "REPLICAS" else "left")
    for c in items:
        row = [
            _cell(c.get("name")),
            state_text(c.get("state")),
            health_text(c),
            _cell(c.get("environment")),
            _cell(c.get("provider")),
            _cell(c.get("version")),
            _cell(c.get("replicas")),
            _cell(c.get("url")),
            age(c.get("created_at")),
        ]
        if wide:
            labels = (c.get("spec") or {}).get("labels") or {}
            op = c.get("operation") or {}
            row += [
                _cell(",".join(f"{k}={v}" for k, v in sorted(labels.items())) or None),
                _cell(" ".join(str(x) for x in (op.get("command"), op.get("id")) if x) or None),
                _cell(c.get("updated_at")),
            ]
        table.add_row(*row)
    return table


def component_detail(c: dict[str, Any], console: Console) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("name", _cell(c.get("name")))
    grid.add_row("state", state_text(c.get("state")))
    grid.add_row("allowed", _cell(", ".join(c.get("allowed_commands") or []) or None))
    for key in ("environment", "provider", "version", "replicas", "url", "created_at", "updated_at"):
        grid.add_row(key, _cell(c.get(key)))
    op = c.get("operation")
    if op:
        params = json.dumps(op.get("params") or {})
        grid.add_row(
            "operation",
            escape(
                f"{op.get('command')} {params} requested {op.get('requested_at')} by {op.get('requested_by')}"
            ),
        )
    h = c.get("health") or {}
    checked = f" (since {h['since']}, checked {h.get('checked_at') or '-'})" if h.get("since") else ""
    grid.add_row("health", health_text(c) + escape(checked))
    console.print(grid)
    if h.get("replicas"):
        console.print(replicas_table(h["replicas"]))
    if c.get("last_error"):
        print_last_error(c["last_error"], console)


def replicas_table(replicas: list[dict[str, Any]]) -> Table:
    """Each replica as the last health sweep saw it."""
    table = _table()
    for col in ("REPLICA", "PID", "PORT", "REVISION", "HEALTHY", "LAST PROBE", "LAST ERROR"):
        table.add_column(col, overflow="fold")
    for r in replicas:
        ok = "[green]yes[/]" if r.get("healthy") else "[bold red]no[/]"
        table.add_row(
            _cell(r.get("id")),
            _cell(r.get("pid")),
            _cell(r.get("port")),
            _cell(r.get("revision")),
            ok,
            _cell(r.get("last_probe")),
            _cell(r.get("last_error")),
        )
    return table


def print_last_error(error: dict[str, Any], console: Console) -> None:
    console.print(
        f"[bold red]last error[/] ({escape(str(error.get('command')))}, {_cell(error.get('at'))}): "
        f"{escape(str(error.get('reason')))}"
    )
    print_logs(error.get("logs") or [], console)


def print_logs(logs: list[str], console: Console) -> None:
    if logs:
        console.print("[dim]logs:[/]")
        for line in logs:
            console.print(f"  [dim]│[/] {escape(str(line))}", soft_wrap=True)


def event_line(e: dict[str, Any]) -> str:
    """One event on one line: ``at  type  from → to  actor  (reason)``."""
    move = f"{e.get('from') or '∅'} → {e.get('to') or '∅'}"
    extra = []
    if e.get("version"):
        extra.append(f"version {e['version']}")
    if e.get("replicas") is not None and str(e.get("type", "")).startswith("scale"):
        extra.append(f"{e['replicas']} replicas")
    if e.get("params"):
        extra.append(json.dumps(e["params"]))
    if e.get("reason"):
        extra.append(f"reason: {e['reason']}")
    style = "red" if str(e.get("type", "")).endswith((".failed", ".reverted")) else "bold"
    tail = f"  {escape('; '.join(extra))}" if extra else ""
    return (
        f"[dim]{_cell(e.get('at'))}[/]  [{style}]{_cell(e.get('type'))}[/]  {escape(move)}  "
        f"[dim]{_cell(e.get('actor'))}[/]{tail}"
    )


def events_table(items: list[dict[str, Any]]) -> Table:
    table = _table()
    for col in ("AT", "TYPE", "FROM", "TO", "ACTOR", "DETAIL"):
        table.add_column(col, overflow="fold")
    for e in items:
        detail = e.get("reason") or (f"version {e['version']}" if e.get("version") else "")
        if e.get("params"):
            detail = (detail + " " + json.dumps(e["params"])).strip()
        table.add_row(
            _cell(e.get("at")),
            _cell(e.get("type")),
            _cell(e.get("from")),
            _cell(e.get("to")),
            _cell(e.get("actor")),
            _cell(detail),
        )
    return table


def keys_table(items: list[dict[str, Any]]) -> Table:
    table = _table()
    for col in ("ID", "NAME", "ROLE", "PREFIX", "CREATED", "EXPIRES", "REVOKED"):
        table.add_column(col, overflow="fold")
    for k in items:
        table.add_row(
            _cell(k.get("id")),
            _cell(k.get("name")),
            _cell(k.get("role")),
            _cell(k.get("prefix")),
            _cell(k.get("created_at")),
            _cell(k.get("expires_at")),
            _cell(k.get("revoked_at")),
        )
    return table


def audit_table(items: list[dict[str, Any]]) -> Table:
    table = _table()
    for col in ("AT", "PRINCIPAL", "OPERATION", "TARGET", "STATUS", "OUTCOME", "REQUEST ID", "DETAIL"):
        table.add_column(col, overflow="fold")
    for a in items:
        detail = a.get("detail")
        if isinstance(detail, dict | list):
            detail = json.dumps(detail)
        table.add_row(
            _cell(a.get("at")),
            _cell(a.get("principal")),
            _cell(a.get("operation")),
            _cell(a.get("target")),
            _cell(a.get("status")),
            _cell(a.get("outcome")),
            _cell(a.get("request_id")),
            _cell(detail),
        )
    return table


def print_problem(
    status: int, problem: dict[str, Any], console: Console | None = None, *, source: str | None = None
) -> None:
    """An RFC 9457 problem, readably, on stderr; ``source`` names where the body came from (a file)."""
    console = console or err()
    title = problem.get("title") or "Error"
    code = f" {status}" if status else ""
    console.print(f"[bold red]Error{code}:[/] [bold]{escape(str(title))}[/]")
    detail = problem.get("detail")
    errors = problem.get("errors") or []
    repeats = errors and all(str(e.get("message")) in str(detail) for e in errors)
    if detail and detail != title and not repeats:
        console.print(f"  {escape(str(detail))}")
    for e in errors:
        where = e.get("field") or "body"
        if e.get("in") == "body" and source:
            where = f"{where} (in {source})"
        elif e.get("in"):
            where = f"{where} (in {e['in']})"
        console.print(f"  [red]•[/] [bold]{escape(str(where))}[/]: {escape(str(e.get('message')))}")
    if "state" in problem and "allowed in" not in str(detail):  # the detail names them already
        allowed = problem.get("allowed_commands") or []
        console.print(
            f"  state: {state_text(problem['state'])}; allowed commands: "
            f"{escape(', '.join(allowed)) if allowed else 'none'}"
        )
    if problem.get("hint"):
        console.print(f"  [dim]{escape(str(problem['hint']))}[/]")
    if problem.get("request_id"):
        console.print(f"  [dim]request id: {escape(str(problem['request_id']))}[/]")
