"""``pilothouse deployments …``: list, get, events, watch and the controls (approve, reject, promote,
pause, resume, abort, rollback). Freezes are in :mod:`pilothouse.cli.freezes`, promotions across
environments in :mod:`pilothouse.cli.promotions`, ``--strategy`` in :mod:`pilothouse.cli.strategies`.

A deploy, update or retry of a component is a deployment; its id is the component's operation id.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from pilothouse.cli.completion import complete_deployment
from pilothouse.cli.context import AllPages, Cursor, Output, OutputOption, PageSize, reports_errors, settings
from pilothouse.cli.deployment_follow import follow
from pilothouse.cli.deployment_render import deployment_detail, deployment_event_line, deployments_table
from pilothouse.cli.deployment_text import (
    BAD_ENDS,
    FINAL,
    STATUSES,
    DeploymentStatus,
    status_text,
    waiting_text,
)
from pilothouse.cli.prog import program
from pilothouse.cli.refs import resolve_deployment
from pilothouse.cli.render import err, out, print_json, print_page

#: seconds between reads while watching
WATCH_SECONDS = 0.5
#: seconds ``watch`` waits for a deployment that does not exist (yet) before it reports the 404: none,
#: the id was resolved first (only ``--wait`` right after a command gives a new record a moment)
WATCH_MISSING_GRACE = 0.0
app = typer.Typer(
    help="Follow and steer deployments: approve, promote, pause, resume, abort, roll back.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

DeploymentId = Annotated[
    str,
    typer.Argument(
        help="the deployment's id, a unique start of it, or a component's name (its latest deployment)",
        autocompletion=complete_deployment,
    ),
]


def _path(deployment_id: str, suffix: str = "") -> str:
    return f"/v1/deployments/{deployment_id}{suffix}"


def _more(cursor: str | None) -> None:
    if cursor:
        err().print(f"[dim]more: --cursor {cursor} (or --all)[/]")


# -- reading -----------------------------------------------------------------------------------------


@app.command("list")
@reports_errors
def list_(
    ctx: typer.Context,
    component: Annotated[str | None, typer.Option("--component", "-c", help="only this component's")] = None,
    environment: Annotated[
        str | None, typer.Option("--environment", "-e", help="only this environment's")
    ] = None,
    status: Annotated[str | None, typer.Option("--status", help="only deployments in this status")] = None,
    limit: PageSize = 50,
    cursor: Cursor = None,
    all_pages: AllPages = False,
    output: OutputOption = None,
) -> None:
    """List deployments, newest first."""
    s = settings(ctx, output)
    if status is not None:
        status = status.lower().replace("-", "_")
        if status not in STATUSES:
            raise typer.BadParameter(f"one of {', '.join(STATUSES)}", param_hint="--status")
    params = {
        "component": component,
        "environment": environment,
        "status": status,
        "limit": limit,
        "cursor": cursor,
    }
    with s.client() as client:
        items, next_cursor = client.collect("/v1/deployments", params, follow=all_pages)
    if s.structured:
        print_page(items, next_cursor)
    elif not items:
        out().print("no deployments" + (" match" if component or environment or status else " yet"))
    else:
        out().print(deployments_table(items))
    _more(next_cursor)


@app.command()
@reports_errors
def get(ctx: typer.Context, deployment_id: DeploymentId, output: OutputOption = None) -> None:
    """Show a deployment: its steps, traffic, analysis, approvals and what it waits for."""
    s = settings(ctx, output)
    with s.client() as client:
        view = client.get(_path(resolve_deployment(client, deployment_id)))
    if s.structured:
        print_json(view)
    else:
        out().print(deployment_detail(view))


@app.command()
@reports_errors
def events(
    ctx: typer.Context,
    deployment_id: DeploymentId,
    limit: PageSize = 100,
    cursor: Cursor = None,
    all_pages: AllPages = False,
    output: OutputOption = None,
) -> None:
    """A deployment's events, oldest first."""
    s = settings(ctx, output)
    with s.client() as client:
        deployment_id = resolve_deployment(client, deployment_id)
        items, next_cursor = client.collect(
            _path(deployment_id, "/events"), {"limit": limit, "cursor": cursor}, follow=all_pages
        )
    if s.structured:
        print_page(items, next_cursor)
    else:
        console = out()
        if not items:
            console.print("no events")
        for e in items:
            console.print(deployment_event_line(e), soft_wrap=True)
    _more(next_cursor)


@app.command()
@reports_errors
def watch(
    ctx: typer.Context,
    deployment_id: DeploymentId,
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0, help="seconds to watch at most (default: no limit)")
    ] = None,
    output: OutputOption = None,
) -> None:
    """Follow a deployment live until it ends.

    Exit 0 if it succeeded, 1 if it rolled back, failed or was aborted.
    """
    s = settings(ctx, output)
    as_json = s.structured
    console = err() if as_json else out()
    with s.client() as client:
        deployment_id = resolve_deployment(client, deployment_id)
        try:
            view, timed_out = follow(
                client,
                deployment_id,
                console=console,
                timeout=timeout,
                interval=WATCH_SECONDS,
                missing_grace=WATCH_MISSING_GRACE,
            )
        except KeyboardInterrupt:
            err().print(f"stopped watching; deployment {escape(deployment_id)} goes on")
            raise typer.Exit(130) from None
    if as_json:
        print_json(view)
    else:
        console.print(deployment_detail(view or {}))
    _conclude(view, timed_out, timeout)


def _conclude(view: dict[str, Any] | None, timed_out: bool, timeout: float | None) -> None:
    """The closing line of a watch and its exit code."""
    dep_id = escape(str((view or {}).get("id")))
    status = (view or {}).get("status")
    if timed_out:
        err().print(
            f"[yellow]⏱[/] timed out after {timeout:g}s; deployment {dep_id} is {status_text(status)} "
            "(it goes on)"
        )
        raise typer.Exit(1)
    if status == DeploymentStatus.SUCCEEDED:
        err().print(f"[green]✓[/] deployment {dep_id} {status_text(status)}")
        return
    error = (view or {}).get("error")
    err().print(
        f"[bold red]✗[/] deployment {dep_id} ended {status_text(status)}"
        + (f": {escape(str(error))}" if error else "")
    )
    raise typer.Exit(1 if status in BAD_ENDS else 2)


# -- controls ----------------------------------------------------------------------------------------


def _control(
    ctx: typer.Context,
    deployment_id: str,
    action: str,
    body: dict[str, Any],
    output: Output | None,
    done: str,
) -> None:
    s = settings(ctx, output)
    with s.client() as client:
        deployment_id = resolve_deployment(client, deployment_id)
        view = client.post(_path(deployment_id, f"/{action}"), body)
    if s.structured:
        print_json(view)
        return
    console = out()
    console.print(
        f"[green]✓[/] {done} deployment [bold]{escape(str(view.get('id', deployment_id)))}[/] "
        f"({escape(str(view.get('component')))}); it is now {status_text(view.get('status'))}"
    )
    waiting = waiting_text(view)
    if waiting and view.get("status") not in FINAL:
        console.print(f"  {waiting}", soft_wrap=True)
    console.print(
        f"  [dim]watch it with: {program()} deployments watch {escape(str(view.get('id', deployment_id)))}[/]"
    )


Comment = Annotated[str | None, typer.Option("--comment", "-m", help="recorded with the decision")]
Reason = Annotated[str | None, typer.Option("--reason", "-m", help="recorded with the request")]


def _text(key: str, value: str | None) -> dict[str, Any]:
    return {key: value} if value else {}


@app.command()
@reports_errors
def approve(
    ctx: typer.Context, deployment_id: DeploymentId, comment: Comment = None, output: OutputOption = None
) -> None:
    """Approve the approval gate a deployment waits at (needs deployments:approve)."""
    _control(ctx, deployment_id, "approve", _text("comment", comment), output, "approved")


@app.command()
@reports_errors
def reject(
    ctx: typer.Context, deployment_id: DeploymentId, reason: Reason = None, output: OutputOption = None
) -> None:
    """Reject the approval gate a deployment waits at: it rolls back."""
    _control(ctx, deployment_id, "reject", _text("reason", reason), output, "rejected")


@app.command()
@reports_errors
def promote(
    ctx: typer.Context,
    deployment_id: DeploymentId,
    full: Annotated[
        bool, typer.Option("--full", help="also skip every later pause and analysis, straight to 100%")
    ] = False,
    output: OutputOption = None,
) -> None:
    """End the pause a deployment waits in (--full: skip all remaining pauses and analyses)."""
    _control(ctx, deployment_id, "promote", {"full": full}, output, "fully promoted" if full else "promoted")


@app.command()
@reports_errors
def pause(ctx: typer.Context, deployment_id: DeploymentId, output: OutputOption = None) -> None:
    """Hold a deployment before its next step (resume lets it go on)."""
    _control(ctx, deployment_id, "pause", {}, output, "paused")


@app.command()
@reports_errors
def resume(ctx: typer.Context, deployment_id: DeploymentId, output: OutputOption = None) -> None:
    """Let a paused deployment go on."""
    _control(ctx, deployment_id, "resume", {}, output, "resumed")


@app.command()
@reports_errors
def abort(
    ctx: typer.Context, deployment_id: DeploymentId, reason: Reason = None, output: OutputOption = None
) -> None:
    """Abort: go back to the stable version at the next opportunity."""
    _control(ctx, deployment_id, "abort", _text("reason", reason), output, "aborting")


@app.command()
@reports_errors
def rollback(
    ctx: typer.Context, deployment_id: DeploymentId, reason: Reason = None, output: OutputOption = None
) -> None:
    """Break-glass rollback: all traffic back to the stable version now, skipping gates and analysis."""
    _control(ctx, deployment_id, "rollback", _text("reason", reason), output, "rolling back")
