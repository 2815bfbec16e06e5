"""``pilothouse secrets set|list|describe|rotate|delete``: write-only secret values (issue 13).

A value is read from a file (``--value-file``, ``-`` for stdin), an environment variable
(``--from-env``) or a hidden prompt, never from the command line (where shells and process lists
keep it), and never printed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from pilothouse.cli.context import OutputOption, reports_errors, settings
from pilothouse.cli.files import InputError
from pilothouse.cli.render import out, print_json

app = typer.Typer(
    help="Secrets: write-only values config references.", no_args_is_help=True, rich_markup_mode=None
)

Name = Annotated[str, typer.Argument(help="the secret's name")]
ValueFile = Annotated[
    Path | None,
    typer.Option("--value-file", help="read the value from this file (- for stdin)", allow_dash=True),
]
FromEnv = Annotated[
    str | None, typer.Option("--from-env", help="read the value from this environment variable")
]


def _value(value_file: Path | None, from_env: str | None) -> str:
    if value_file is not None and from_env is not None:
        raise InputError("give --value-file or --from-env, not both")
    if from_env is not None:
        value = os.environ.get(from_env)
        if value is None:
            raise InputError(f"environment variable {from_env} is not set")
        return value
    if value_file is not None:
        text = sys.stdin.read() if str(value_file) == "-" else value_file.read_text(encoding="utf-8")
        return text.removesuffix("\n")
    return typer.prompt("value", hide_input=True, confirmation_prompt=True)


def _print(secret: dict[str, Any], structured: bool) -> None:
    if structured:
        print_json(secret)
        return
    out().print(
        f"[bold]{escape(secret['name'])}[/] v{secret['current_version']} ({secret['backend']})"
        f"{': ' + escape(secret['description']) if secret.get('description') else ''}"
    )
    for v in secret["versions"]:
        kept = f", kept until {v['keep_until']:.0f}" if v.get("keep_until") else ""
        out().print(f"  v{v['version']}  {v['created_at']}  {escape(v['created_by'])}{kept}")
    for d in secret.get("deployments") or []:
        out().print(f"  redeploy {escape(d['component'])}: {d['status']}")


@app.command("set")
@reports_errors
def set_(
    ctx: typer.Context,
    name: Name,
    value_file: ValueFile = None,
    from_env: FromEnv = None,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    output: OutputOption = None,
) -> None:
    """Create a secret (its value is never shown again; rotate to change it)."""
    value = _value(value_file, from_env)
    s = settings(ctx, output)
    with s.client() as client:
        secret = client.post("/v1/secrets", {"name": name, "value": value, "description": description})
    _print(secret, s.structured)


@app.command("list")
@reports_errors
def list_(ctx: typer.Context, output: OutputOption = None) -> None:
    """The secrets: names, current versions, backends (never values)."""
    s = settings(ctx, output)
    with s.client() as client:
        items, cursor = client.collect("/v1/secrets", {}, follow=True)
    if s.structured:
        print_json({"items": items, "next_cursor": cursor})
        return
    for item in items:
        out().print(
            f"{escape(item['name'])}  v{item['current_version']}  {item['backend']}  {item['updated_at']}"
        )


@app.command("describe")
@reports_errors
def describe(ctx: typer.Context, name: Name, output: OutputOption = None) -> None:
    """A secret's metadata and the versions it keeps."""
    s = settings(ctx, output)
    with s.client() as client:
        _print(client.get(f"/v1/secrets/{name}"), s.structured)


@app.command("rotate")
@reports_errors
def rotate(
    ctx: typer.Context,
    name: Name,
    value_file: ValueFile = None,
    from_env: FromEnv = None,
    no_redeploy: Annotated[
        bool, typer.Option("--no-redeploy", help="leave components to their next deploy")
    ] = False,
    output: OutputOption = None,
) -> None:
    """A new version; each Running component whose config references the secret is redeployed."""
    value = _value(value_file, from_env)
    s = settings(ctx, output)
    with s.client() as client:
        secret = client.post(f"/v1/secrets/{name}/rotate", {"value": value, "redeploy": not no_redeploy})
    _print(secret, s.structured)


@app.command("delete")
@reports_errors
def delete(
    ctx: typer.Context,
    name: Name,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
) -> None:
    """Delete a secret and all its versions (refused while config references it)."""
    if not yes:
        typer.confirm(f"delete secret {name} and all its versions?", abort=True)
    s = settings(ctx)
    with s.client() as client:
        client.delete(f"/v1/secrets/{name}")
    out().print(f"[green]✓[/] deleted secret {escape(name)}")
