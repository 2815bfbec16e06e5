"""``pilothouse freeze / unfreeze / freezes``: no deploys, updates or retries of a component or an
environment while it is frozen."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from pilothouse.cli.context import OutputOption, reports_errors, settings
from pilothouse.cli.deployment_text import cell, new_table
from pilothouse.cli.render import out, print_json

FreezeComponent = Annotated[str | None, typer.Option("--component", "-c", help="the component")]
FreezeEnvironment = Annotated[str | None, typer.Option("--environment", "-e", help="the environment")]


def _scope(component: str | None, environment: str | None) -> tuple[str, str]:
    if (component is None) == (environment is None):
        raise typer.BadParameter("give --component NAME or --environment ENV (one of them)")
    return ("component", component) if component is not None else ("environment", environment)  # type: ignore[return-value]


@reports_errors
def freeze(
    ctx: typer.Context,
    component: FreezeComponent = None,
    environment: FreezeEnvironment = None,
    reason: Annotated[str, typer.Option("--reason", "-m", help="why (shown to whoever is refused)")] = "",
    replace: Annotated[
        bool,
        typer.Option("--replace", help="a target frozen already gets this reason instead of keeping its own"),
    ] = False,
    output: OutputOption = None,
) -> None:
    """Freeze a component or an environment: no deploys, updates or retries until unfrozen.

    Break-glass rollbacks still go. A target frozen already keeps its freeze unless --replace.
    """
    scope, target = _scope(component, environment)
    if not reason.strip():
        raise typer.BadParameter("say why: --reason TEXT")
    s = settings(ctx, output)
    with s.client() as client:
        body = {"scope": scope, "target": target, "reason": reason, **({"replace": True} if replace else {})}
        view = client.post("/v1/freezes", body)
    if s.structured:
        print_json(view)
    elif view.get("reason") != reason:
        by, at, kept = (escape(str(view.get(k))) for k in ("by", "at", "reason"))
        out().print(
            f"[yellow]{scope} [bold]{escape(target)}[/] is frozen already[/] (by {by} at {at}): {kept}"
            " — kept; --replace gives it your reason"
        )
    else:
        out().print(f"[green]✓[/] froze {scope} [bold]{escape(target)}[/]: {escape(reason)}")


@reports_errors
def unfreeze(
    ctx: typer.Context,
    component: FreezeComponent = None,
    environment: FreezeEnvironment = None,
    output: OutputOption = None,
) -> None:
    """Lift the freeze of a component or an environment."""
    scope, target = _scope(component, environment)
    s = settings(ctx, output)
    with s.client() as client:
        client.delete(f"/v1/freezes/{scope}/{target}")
    if s.structured:
        print_json({"scope": scope, "target": target, "frozen": False})
    else:
        out().print(f"[green]✓[/] unfroze {scope} [bold]{escape(target)}[/]")


@reports_errors
def freezes(ctx: typer.Context, output: OutputOption = None) -> None:
    """List the frozen components and environments."""
    s = settings(ctx, output)
    with s.client() as client:
        body = client.get("/v1/freezes")
    items = body.get("items", [])
    if s.structured:
        print_json(body)
    else:
        out().print(freezes_table(items) if items else "nothing is frozen")


def freezes_table(items: list[dict[str, Any]]) -> Table:
    table = new_table("SCOPE", "TARGET", "REASON", "BY", "AT")
    for f in items:
        table.add_row(
            cell(f.get("scope")),
            cell(f.get("target")),
            cell(f.get("reason")),
            cell(f.get("by")),
            cell(f.get("at")),
        )
    return table
