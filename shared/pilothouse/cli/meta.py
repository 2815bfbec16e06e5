"""``pilothouse status`` and ``pilothouse audit``: the control plane's health and its audit trail."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from pilothouse.cli.context import AllPages, Cursor, OutputOption, PageSize, reports_errors, settings
from pilothouse.cli.render import audit_table, err, out, print_json, print_page


@reports_errors
def status(ctx: typer.Context, output: OutputOption = None) -> None:
    """Is the control plane up? (no API key needed)"""
    s = settings(ctx, output)
    with s.client() as client:
        health = client.get("/v1/health")
    if s.structured:
        print_json(health)
        return
    state = str(health.get("status"))
    colour = "green" if state.lower() in ("ok", "healthy", "up", "pass") else "yellow"
    out().print(
        f"[{colour}]●[/] Pilothouse {escape(str(health.get('version')))} at {escape(s.url)}: "
        f"[{colour}]{escape(state)}[/]"
    )


@reports_errors
def audit(
    ctx: typer.Context,
    limit: PageSize = 50,
    principal: Annotated[str | None, typer.Option("--principal", help="only this principal")] = None,
    operation: Annotated[str | None, typer.Option("--operation", help="only this operation")] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="only this target, e.g. component:greeter")
    ] = None,
    cursor: Cursor = None,
    all_pages: AllPages = False,
    output: OutputOption = None,
) -> None:
    """The audit trail, newest first."""
    s = settings(ctx, output)
    params = {
        "limit": limit,
        "principal": principal,
        "operation": operation,
        "target": target,
        "cursor": cursor,
    }
    with s.client() as client:
        items, next_cursor = client.collect("/v1/audit", params, follow=all_pages)
    if s.structured:
        print_page(items, next_cursor)
        return
    out().print(audit_table(items) if items else "no audit records")
    if next_cursor:
        err().print(f"[dim]more: --cursor {next_cursor} (or --all)[/]")
