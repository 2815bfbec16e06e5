"""``pilothouse keys …``: create (the secret is shown once), list and revoke API keys."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.panel import Panel

from pilothouse.cli.context import AllPages, OutputOption, reports_errors, settings
from pilothouse.cli.render import err, keys_table, out, print_json, print_page

app = typer.Typer(help="Manage API keys (admin).", no_args_is_help=True, rich_markup_mode=None)

ROLES = ("viewer", "operator", "deployer", "admin")


@app.command()
@reports_errors
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", "-n", help="what the key is for")],
    role: Annotated[str, typer.Option("--role", "-r", help="viewer, operator, deployer or admin")],
    expires_in_days: Annotated[int | None, typer.Option("--expires-in-days", min=1, help="expiry")] = None,
    idempotency_key: Annotated[str | None, typer.Option("--idempotency-key")] = None,
    output: OutputOption = None,
) -> None:
    """Create an API key; its secret is printed this once."""
    if role.lower() not in ROLES:
        raise typer.BadParameter(f"one of {', '.join(ROLES)}", param_hint="--role")
    s = settings(ctx, output)
    body: dict[str, Any] = {"name": name, "role": role.lower()}
    if expires_in_days:
        body["expires_in_days"] = expires_in_days
    with s.client() as client:
        record = client.post("/v1/api-keys", body, idempotency_key=idempotency_key)
    if s.structured:
        print_json(record)
        return
    console = out()
    expires = record.get("expires_at") or "never"
    console.print(
        Panel(
            f"[bold yellow]{escape(str(record.get('key')))}[/]",
            title=escape(f"API key {record.get('id')} · {name} · {record.get('role')}"),
            subtitle=f"expires: {escape(str(expires))}",
            expand=False,
        )
    )
    err().print(
        "[bold]Store this key now: it is not shown again.[/] Use it with --api-key or PILOTHOUSE_API_KEY."
    )


@app.command("list")
@reports_errors
def list_(
    ctx: typer.Context,
    all_pages: AllPages = False,
    output: OutputOption = None,
) -> None:
    """List API keys (never their secrets)."""
    s = settings(ctx, output)
    with s.client() as client:
        items, cursor = client.collect("/v1/api-keys", {}, follow=all_pages)
    if s.structured:
        print_page(items, cursor)
    else:
        out().print(keys_table(items) if items else "no API keys")
    if cursor:
        err().print("[dim]more: --all[/]")


@app.command()
@reports_errors
def revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(metavar="ID", help="the key's id (from keys list)")],
    output: OutputOption = None,
) -> None:
    """Revoke an API key (at once, for good)."""
    s = settings(ctx, output)
    with s.client() as client:
        record = client.delete(f"/v1/api-keys/{key_id}")
    if s.structured:
        print_json(record)
    else:
        record = record or {}
        out().print(
            f"[green]✓[/] revoked key [bold]{escape(key_id)}[/] ({escape(str(record.get('name')))}) "
            f"at {escape(str(record.get('revoked_at')))}"
        )


@app.command()
def recover(
    data_dir: Annotated[
        str | None, typer.Option("--data-dir", help="the control plane's data directory (embedded default)")
    ] = None,
    name: Annotated[str, typer.Option("--name", "-n", help="what the new key is for")] = "recovered admin",
) -> None:
    """Mint a new admin key directly in the store, when no admin key works any more.

    Needs direct access to the store (the data directory, or the cloud table through
    PILOTHOUSE_STORE and its credentials), not an API key. The new key is printed this once; the
    act is audited as system:recover.
    """
    import os

    from pilothouse.services.keys import recover_admin
    from pilothouse.settings import get_settings
    from pilothouse.wiring import get_services

    if data_dir:
        os.environ["PILOTHOUSE_DATA_DIR"] = data_dir
    services = get_services(get_settings())
    secret, record = recover_admin(services, name=name)
    out().print(
        Panel(
            f"[bold yellow]{escape(secret)}[/]",
            title=escape(f"admin key {record['id']} · {name}"),
            expand=False,
        )
    )
    err().print("[bold]Store this key now: it is not shown again.[/] Revoke the lost keys with it.")
