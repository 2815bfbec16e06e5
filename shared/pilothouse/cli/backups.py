"""``pilothouse backups …``: list, get, create, verify, restore, drill and delete backups (admin).

create, verify, restore and drill start a backup run the control plane carries out; ``--wait``
follows it with a progress bar (items and bytes) until it ends, and exits 1 if it failed.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from pilothouse.cli.context import OutputOption, reports_errors, settings
from pilothouse.cli.render import err, out, print_json

app = typer.Typer(
    help="Backups: take, verify, restore, drill (admin).", no_args_is_help=True, rich_markup_mode=None
)

WaitOption = Annotated[bool, typer.Option("--wait", "-w", help="follow the run with a progress bar")]
TimeoutOption = Annotated[float, typer.Option("--timeout", min=1, help="seconds --wait waits at most")]
BackupId = Annotated[str, typer.Argument(metavar="ID", help="the backup's id (from backups list), or latest")]
POLL_SECONDS = 0.3
FINAL = {"succeeded", "failed", "interrupted"}


def _size(n: Any) -> str:
    if not isinstance(n, int | float):
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _table(items: list[dict[str, Any]]) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    for column in ("ID", "CREATED", "TRIGGER", "STORE", "ITEMS", "SIZE", "RATIO", "VERIFIED", "DRILLED"):
        table.add_column(column)
    for b in items:
        table.add_row(
            escape(str(b.get("id"))),
            escape(str(b.get("created_at", "-"))),
            escape(str(b.get("trigger", "-"))),
            escape(str(b.get("store", "-"))),
            str(b.get("items", "-")),
            _size(b.get("bytes")),
            f"{b['compression_ratio']}x" if b.get("compression_ratio") else "-",
            escape(str(b.get("verify_outcome") or "-")),
            escape(str(b.get("drill_outcome") or "-")),
        )
    return table


def follow(client: Any, op: dict[str, Any], *, timeout: float) -> dict[str, Any]:
    """Poll a backup run until it ends, drawing a progress bar on stderr; answer its last state."""
    from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn

    deadline = time.monotonic() + timeout
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("items"),
        DownloadColumn(),
        console=err(),
        transient=False,
    ) as bar:
        items = bar.add_task(f"{op['kind']} {op.get('backup_id') or ''}".strip(), total=None)
        while True:
            p = op.get("progress") or {}
            phase = p.get("phase") or op.get("status")
            bar.update(
                items,
                description=f"{op['kind']} · {phase}",
                completed=p.get("items", 0),
                total=p.get("items_total"),
            )
            if op.get("status") in FINAL:
                return op
            if time.monotonic() > deadline:
                err().print(f"[yellow]still {escape(str(op.get('status')))} after {timeout:.0f}s[/]")
                return op
            time.sleep(POLL_SECONDS)
            op = client.get(f"/v1/backup-runs/{op['id']}")


def _finish(s: Any, client: Any, op: dict[str, Any], wait: bool, timeout: float) -> None:
    if wait:
        op = follow(client, op, timeout=timeout)
    if s.structured:
        print_json(op)
    elif not wait:
        out().print(
            f"{escape(op['kind'])} queued as run [bold]{escape(op['id'])}[/] "
            f"(follow: pilothouse backups run {escape(op['id'])} --wait)"
        )
    elif op.get("status") == "succeeded":
        result = op.get("result") or {}
        what = result.get("id") or result.get("backup_id") or op.get("backup_id") or ""
        detail = result.get("detail") or {}
        extra = ""
        if op["kind"] == "drill":
            extra = f" RPO {detail.get('rpo_seconds')} s, RTO {detail.get('rto_seconds')} s"
        count = result.get("items", detail.get("items", "-"))
        out().print(
            f"[green]✓[/] {escape(op['kind'])} {escape(str(what))}: "
            f"{count} items, {_size(result.get('bytes'))}{escape(extra)}"
        )
    if op.get("status") in ("failed", "interrupted"):
        error = op.get("error") or {}
        err().print(
            f"[red]✗[/] {escape(op['kind'])} {escape(op['status'])}: {escape(str(error.get('detail', '')))}"
        )
        raise typer.Exit(1)


@app.command("list")
@reports_errors
def list_(ctx: typer.Context, output: OutputOption = None) -> None:
    """List the complete backups, newest first."""
    s = settings(ctx, output)
    with s.client() as client:
        page = client.get("/v1/backups")
    if s.structured:
        print_json(page)
        return
    out().print(_table(page["items"]) if page["items"] else "no backups")
    if page.get("incomplete"):
        err().print(f"[dim]{len(page['incomplete'])} incomplete (no manifest; never restored)[/]")


@app.command()
@reports_errors
def get(ctx: typer.Context, backup_id: BackupId, output: OutputOption = None) -> None:
    """Show a backup's manifest: counts per kind, chunks, consistency, key."""
    s = settings(ctx, output)
    with s.client() as client:
        backup = client.get(f"/v1/backups/{backup_id}")
    if s.structured:
        print_json(backup)
        return
    console = out()
    console.print(_table([backup]))
    console.print(f"consistency: {escape(str(backup.get('consistency')))}")
    console.print(f"at rest: {escape(str(backup.get('at_rest')))} · key {escape(str(backup.get('key_id')))}")
    console.print("counts: " + ", ".join(f"{escape(k)} {v}" for k, v in (backup.get("counts") or {}).items()))


@app.command()
@reports_errors
def create(
    ctx: typer.Context, wait: WaitOption = False, timeout: TimeoutOption = 3600, output: OutputOption = None
) -> None:
    """Take a full backup now."""
    s = settings(ctx, output)
    with s.client() as client:
        _finish(s, client, client.post("/v1/backups", {}), wait, timeout)


@app.command()
@reports_errors
def verify(
    ctx: typer.Context,
    backup_id: BackupId,
    wait: WaitOption = False,
    timeout: TimeoutOption = 3600,
    output: OutputOption = None,
) -> None:
    """Check every chunk of a backup against its manifest, without restoring."""
    s = settings(ctx, output)
    with s.client() as client:
        _finish(s, client, client.post(f"/v1/backups/{backup_id}/verify", {}), wait, timeout)


@app.command()
@reports_errors
def restore(
    ctx: typer.Context,
    backup_id: BackupId,
    force: Annotated[bool, typer.Option("--force", help="replace a store that is not empty")] = False,
    wait: WaitOption = False,
    timeout: TimeoutOption = 3600,
    output: OutputOption = None,
) -> None:
    """Restore a backup (verified first); run it again to finish one that was interrupted."""
    s = settings(ctx, output)
    with s.client() as client:
        _finish(s, client, client.post(f"/v1/backups/{backup_id}/restore", {"force": force}), wait, timeout)


@app.command()
@reports_errors
def drill(
    ctx: typer.Context,
    backup_id: Annotated[
        str, typer.Argument(metavar="[ID]", help="a backup id (default: the newest)")
    ] = "latest",
    wait: WaitOption = False,
    timeout: TimeoutOption = 3600,
    output: OutputOption = None,
) -> None:
    """Restore a backup into a scratch store, compare it with its manifest, record RPO and RTO."""
    s = settings(ctx, output)
    with s.client() as client:
        _finish(s, client, client.post(f"/v1/backups/{backup_id}/drill", {}), wait, timeout)


@app.command()
@reports_errors
def delete(
    ctx: typer.Context,
    backup_id: BackupId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
    output: OutputOption = None,
) -> None:
    """Delete a backup."""
    s = settings(ctx, output)
    if not yes and not typer.confirm(f"Delete backup {backup_id}?"):
        raise typer.Exit(1)
    with s.client() as client:
        result = client.delete(f"/v1/backups/{backup_id}")
    if s.structured:
        print_json(result)
    else:
        out().print(
            f"[green]✓[/] deleted backup {escape(backup_id)} ({result.get('deleted_objects')} objects)"
        )


@app.command()
@reports_errors
def run(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID")],
    wait: WaitOption = False,
    timeout: TimeoutOption = 3600,
    output: OutputOption = None,
) -> None:
    """Show (or --wait for) a backup run."""
    s = settings(ctx, output)
    with s.client() as client:
        op = client.get(f"/v1/backup-runs/{run_id}")
        if not wait and not s.structured:
            p = op.get("progress") or {}
            items, size = p.get("items", 0), _size(p.get("bytes"))
            out().print(f"{escape(op['kind'])} {escape(op['status'])}: {items} items, {size}")
            return
        _finish(s, client, op, wait, timeout)


@app.command()
@reports_errors
def events(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
    output: OutputOption = None,
) -> None:
    """Backup events, newest first: backups, drills (RPO, RTO), failures, a missed RPO target."""
    s = settings(ctx, output)
    with s.client() as client:
        page = client.get("/v1/backup-events", limit=limit)
    if s.structured:
        print_json(page)
        return
    for e in page["items"]:
        colour = "green" if e.get("outcome") == "ok" else "red"
        detail = ", ".join(f"{k}={v}" for k, v in (e.get("detail") or {}).items())
        out().print(
            f"{escape(e['at'])} [{colour}]{escape(e['type'])} {escape(e['outcome'])}[/] "
            f"{escape(str(e.get('backup_id') or ''))} {escape(detail)}"
        )
