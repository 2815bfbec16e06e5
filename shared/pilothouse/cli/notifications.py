"""``pilothouse notifications …``: channels (create, list, get, delete, test), a channel's delivery
log and redelivery."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from pilothouse.cli.context import AllPages, OutputOption, reports_errors, settings
from pilothouse.cli.deployment_text import cell, new_table
from pilothouse.cli.render import err, out, print_json, print_page

app = typer.Typer(
    help="Notification channels (webhook, Slack, Teams) and deliveries.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
channels = typer.Typer(
    help="Create, list, read, test and delete channels.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(channels, name="channels")

KINDS = ("webhook", "slack", "teams")


@channels.command()
@reports_errors
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="the channel's name (lower-case)")],
    url: Annotated[
        str, typer.Option("--url", help="where to POST: https (plain http to loopback in development)")
    ],
    kind: Annotated[str, typer.Option("--kind", "-k", help="webhook, slack or teams")] = "webhook",
    events: Annotated[
        list[str] | None,
        typer.Option(
            "--event", "-e", help="an event-type pattern, repeatable: deployment.*, alert.firing, *"
        ),
    ] = None,
    components: Annotated[
        list[str] | None, typer.Option("--component", "-c", help="only this component")
    ] = None,
    environments: Annotated[
        list[str] | None, typer.Option("--environment", help="only this environment")
    ] = None,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    output: OutputOption = None,
) -> None:
    """Create a channel; a webhook's signing secret is printed this once."""
    if kind not in KINDS:
        raise typer.BadParameter(f"one of {', '.join(KINDS)}", param_hint="--kind")
    subscription: dict[str, Any] = {"events": events or ["*"]}
    if components:
        subscription["components"] = components
    if environments:
        subscription["environments"] = environments
    body = {
        "name": name,
        "kind": kind,
        "url": url,
        "subscriptions": [subscription],
        "description": description,
    }
    s = settings(ctx, output)
    with s.client() as client:
        channel = client.post("/v1/notifications/channels", body)
    if s.structured:
        print_json(channel)
        return
    out().print(
        f"[green]✓[/] created {kind} channel [bold]{escape(name)}[/] → {escape(channel['url_display'])}"
    )
    if channel.get("secret"):
        out().print(
            Panel(f"[bold yellow]{escape(channel['secret'])}[/]", title="signing secret", expand=False)
        )
        err().print(
            "[bold]Store this secret now: it is not shown again.[/] Receivers verify "
            'Pilothouse-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">.'
        )


@channels.command("list")
@reports_errors
def list_(ctx: typer.Context, output: OutputOption = None) -> None:
    """List channels (their URLs as scheme and host only)."""
    s = settings(ctx, output)
    with s.client() as client:
        items = client.get("/v1/notifications/channels")["items"]
    if s.structured:
        print_json({"items": items})
    else:
        out().print(channels_table(items) if items else "no notification channels")


@channels.command()
@reports_errors
def get(ctx: typer.Context, name: str, output: OutputOption = None) -> None:
    """Show a channel and its subscriptions."""
    s = settings(ctx, output)
    with s.client() as client:
        channel = client.get(f"/v1/notifications/channels/{name}")
    if s.structured:
        print_json(channel)
        return
    out().print(channels_table([channel]))
    for sub in channel.get("subscriptions", []):
        where = ", ".join(sub.get("components") or []) or "any component"
        envs = ", ".join(sub.get("environments") or []) or "any environment"
        out().print(f"  events {escape(', '.join(sub['events']))} · {escape(where)} · {escape(envs)}")


@channels.command()
@reports_errors
def delete(ctx: typer.Context, name: str, output: OutputOption = None) -> None:
    """Delete a channel (its delivery log stays until it expires)."""
    s = settings(ctx, output)
    with s.client() as client:
        client.delete(f"/v1/notifications/channels/{name}")
    if s.structured:
        print_json({"name": name, "deleted": True})
    else:
        out().print(f"[green]✓[/] deleted channel [bold]{escape(name)}[/]")


@channels.command()
@reports_errors
def test(ctx: typer.Context, name: str, output: OutputOption = None) -> None:
    """Send a notification.test event to this channel now."""
    s = settings(ctx, output)
    with s.client() as client:
        delivery = client.post(f"/v1/notifications/channels/{name}/test")
    if s.structured:
        print_json(delivery)
    else:
        out().print(
            f"[green]✓[/] queued test delivery [bold]{escape(delivery['id'])}[/]; "
            f"see: pilothouse notifications deliveries {escape(name)}"
        )


@app.command()
@reports_errors
def deliveries(
    ctx: typer.Context,
    channel: Annotated[str, typer.Argument(metavar="CHANNEL")],
    status: Annotated[
        str | None, typer.Option("--status", help="pending, sending, retrying, delivered or dead_lettered")
    ] = None,
    all_pages: AllPages = False,
    output: OutputOption = None,
) -> None:
    """A channel's delivery log, newest first: status, attempts, last status code and latency."""
    s = settings(ctx, output)
    params = {"status": status} if status else {}
    with s.client() as client:
        items, cursor = client.collect(
            f"/v1/notifications/channels/{channel}/deliveries", params, follow=all_pages
        )
    if s.structured:
        print_page(items, cursor)
    else:
        out().print(deliveries_table(items) if items else "no deliveries")
    if cursor:
        err().print("[dim]more: --all[/]")


@app.command()
@reports_errors
def redeliver(
    ctx: typer.Context,
    channel: Annotated[str, typer.Argument(metavar="CHANNEL")],
    delivery: Annotated[str, typer.Argument(metavar="DELIVERY", help="the delivery's id (from deliveries)")],
    output: OutputOption = None,
) -> None:
    """Send a delivered or dead-lettered delivery again."""
    s = settings(ctx, output)
    with s.client() as client:
        again = client.post(f"/v1/notifications/channels/{channel}/deliveries/{delivery}/redeliver")
    if s.structured:
        print_json(again)
    else:
        out().print(f"[green]✓[/] redelivering [bold]{escape(delivery)}[/] to {escape(channel)}")


def channels_table(items: list[dict[str, Any]]) -> Table:
    table = new_table("NAME", "KIND", "URL", "SIGNED", "EVENTS", "CREATED")
    for c in items:
        events = sorted({p for s in c.get("subscriptions", []) for p in s.get("events", [])})
        table.add_row(
            cell(c.get("name")),
            cell(c.get("kind")),
            cell(c.get("url_display")),
            "yes" if c.get("signed") else "no",
            cell(", ".join(events)),
            cell(c.get("created_at")),
        )
    return table


def deliveries_table(items: list[dict[str, Any]]) -> Table:
    table = new_table("ID", "EVENT", "STATUS", "ATTEMPTS", "CODE", "LATENCY", "ERROR", "UPDATED")
    colours = {"delivered": "green", "dead_lettered": "red", "retrying": "yellow"}
    for d in items:
        status = d.get("status") or ""
        latency = d.get("last_latency_ms")
        table.add_row(
            cell(d.get("id")),
            cell((d.get("event") or {}).get("type")),
            f"[{colours.get(status, 'white')}]{escape(status)}[/]",
            cell(d.get("attempts")),
            cell(d.get("last_status_code")),
            f"{latency:.0f} ms" if isinstance(latency, int | float) else "-",
            cell(d.get("last_error")),
            cell(d.get("updated_at")),
        )
    return table
