"""``pilothouse workflows …``: create, update (a new version), get, list and delete workflow definitions."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from pilothouse.cli.context import (
    AllPages,
    Cursor,
    IdemKey,
    OutputOption,
    PageSize,
    reports_errors,
    settings,
)
from pilothouse.cli.files import load_document
from pilothouse.cli.prog import program
from pilothouse.cli.render import err, out, print_json, print_page
from pilothouse.cli.workflow_render import workflow_detail, workflows_table

app = typer.Typer(
    help="Manage workflows (Amazon States Language definitions, versioned).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

Name = Annotated[str, typer.Argument(help="the workflow's name")]
File = Annotated[str, typer.Argument(help="the definition, JSON or YAML; - reads stdin")]


def _path(name: str) -> str:
    return f"/v1/workflows/{name}"


def _saved(view: dict[str, Any], verb: str, as_json: bool) -> None:
    if as_json:
        print_json(view)
        return
    name = escape(str(view.get("name")))
    out().print(
        f"[green]✓[/] {verb} workflow [bold]{name}[/] version {escape(str(view.get('version')))}; "
        f"next: {program()} executions start {name} --wait"
    )


@app.command()
@reports_errors
def create(
    ctx: typer.Context,
    name: Name,
    file: File,
    description: Annotated[str, typer.Option("--description", help="what the workflow does")] = "",
    idempotency_key: IdemKey = None,
    output: OutputOption = None,
) -> None:
    """Create a workflow from its definition (checked by the API; see also: workflow validate)."""
    s = settings(ctx, output)
    body = {"name": name, "definition": load_document(file), "description": description}
    with s.client() as client:
        view = client.post("/v1/workflows", body, idempotency_key=idempotency_key)
    _saved(view, "created", s.structured)


@app.command()
@reports_errors
def update(
    ctx: typer.Context,
    name: Name,
    file: File,
    description: Annotated[
        str | None, typer.Option("--description", help="a new description (default: keep it)")
    ] = None,
    output: OutputOption = None,
) -> None:
    """Publish a new version of a workflow (running executions keep theirs)."""
    s = settings(ctx, output)
    body: dict[str, Any] = {"definition": load_document(file)}
    if description is not None:
        body["description"] = description
    with s.client() as client:
        view = client.request("PUT", _path(name), json=body)
    _saved(view, "updated", s.structured)


@app.command()
@reports_errors
def get(
    ctx: typer.Context,
    name: Name,
    version: Annotated[int | None, typer.Option("--version", min=1, help="an older version")] = None,
    output: OutputOption = None,
) -> None:
    """Show a workflow and its definition."""
    s = settings(ctx, output)
    with s.client() as client:
        view = client.get(_path(name), version=version)
    if s.structured:
        print_json(view)
    else:
        workflow_detail(view, out())


@app.command("list")
@reports_errors
def list_(
    ctx: typer.Context,
    limit: PageSize = 50,
    cursor: Cursor = None,
    all_pages: AllPages = False,
    output: OutputOption = None,
) -> None:
    """List workflows."""
    s = settings(ctx, output)
    with s.client() as client:
        items, next_cursor = client.collect(
            "/v1/workflows", {"limit": limit, "cursor": cursor}, follow=all_pages
        )
    if s.structured:
        print_page(items, next_cursor)
    else:
        out().print(workflows_table(items) if items else "no workflows yet")
    if next_cursor:
        err().print(f"[dim]more: --cursor {next_cursor} (or --all)[/]")


@app.command()
@reports_errors
def delete(ctx: typer.Context, name: Name, output: OutputOption = None) -> None:
    """Delete a workflow (its executions stay readable)."""
    s = settings(ctx, output)
    with s.client() as client:
        client.delete(_path(name))
    if s.structured:
        print_json({"name": name, "deleted": True})
    else:
        out().print(f"[green]✓[/] deleted workflow [bold]{escape(name)}[/]")
