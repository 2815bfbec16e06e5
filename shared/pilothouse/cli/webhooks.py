"""``pilothouse webhooks …``: inbound webhook sources (the secret shown once, at create and rotate)
and their deliveries (outcomes, replay)."""

from __future__ import annotations

from typing import Annotated

import typer

from pilothouse.cli.context import OutputOption, reports_errors, settings
from pilothouse.cli.files import load_mapping
from pilothouse.cli.render import out, print_json

app = typer.Typer(
    help="Inbound webhook sources (GitHub, GitLab, generic) and their deliveries.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
Name = Annotated[str, typer.Argument(help="the source's name")]


def _secret(view: dict, verb: str) -> None:
    out().print(f"[green]✓[/] webhook source [bold]{view['name']}[/] {verb}; its secret (shown only now):")
    out().print(view["secret"], markup=False, highlight=False)
    out().print(f"deliveries go to POST /v1/webhooks/{view['name']}")


@app.command()
@reports_errors
def create(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="source spec (name, kind, rules), YAML or JSON; - reads stdin")],
    output: OutputOption = None,
) -> None:
    """Register a webhook source; prints its secret, the only time it is shown."""
    s = settings(ctx, output)
    with s.client() as client:
        view = client.post("/v1/webhook-sources", load_mapping(file, "a webhook source"))
    print_json(view) if s.structured else _secret(view, "registered")


@app.command("list")
@reports_errors
def list_(ctx: typer.Context, output: OutputOption = None) -> None:
    """List webhook sources (never their secrets)."""
    s = settings(ctx, output)
    with s.client() as client:
        page = client.get("/v1/webhook-sources")
    if s.structured:
        print_json(page)
        return
    for item in page["items"]:
        rules = ", ".join(r["name"] for r in item.get("rules", [])) or "no rules"
        out().print(f"{item['name']}  {item['kind']}  [{rules}]")


@app.command()
@reports_errors
def get(ctx: typer.Context, name: Name, output: OutputOption = None) -> None:
    """A webhook source and its rules."""
    s = settings(ctx, output)
    with s.client() as client:
        print_json(client.get(f"/v1/webhook-sources/{name}"))


@app.command()
@reports_errors
def rotate(ctx: typer.Context, name: Name, output: OutputOption = None) -> None:
    """A new secret for the source (the old one stops working at once)."""
    s = settings(ctx, output)
    with s.client() as client:
        view = client.post(f"/v1/webhook-sources/{name}/rotate", {})
    print_json(view) if s.structured else _secret(view, "rotated")


@app.command()
@reports_errors
def deliveries(ctx: typer.Context, name: Name, output: OutputOption = None) -> None:
    """The source's deliveries, newest first, with each rule's outcome."""
    s = settings(ctx, output)
    with s.client() as client:
        page = client.get(f"/v1/webhook-sources/{name}/deliveries")
    if s.structured:
        print_json(page)
        return
    for d in page["items"]:
        outcomes = "; ".join(
            f"{o['rule']}: {o['outcome']} {o.get('detail') or ''}".strip() for o in d["outcomes"]
        )
        out().print(
            f"{d['received_at']}  {d['id']}  {d['event'].get('type')}  {d['status']}  {outcomes}",
            markup=False,
        )


@app.command()
@reports_errors
def replay(
    ctx: typer.Context,
    name: Name,
    delivery: Annotated[str, typer.Argument(help="the delivery id")],
    output: OutputOption = None,
) -> None:
    """Process a kept delivery again (admin)."""
    s = settings(ctx, output)
    with s.client() as client:
        view = client.post(f"/v1/webhook-sources/{name}/deliveries/{delivery}/replay", {})
    print_json(view) if s.structured else out().print(f"[green]✓[/] delivery {delivery} queued again")
