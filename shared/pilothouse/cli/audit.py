"""``pilothouse audit``: list the trail, ``verify`` its hash chain, ``export`` it as JSON Lines.

pilothouse audit --operation register_component
pilothouse audit verify --since 2026-12-01        # exit 1 when a record was deleted, changed or moved
pilothouse audit export --since 2026-12-01 > audit.jsonl
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pilothouse.cli.context import OutputOption, reports_errors, settings
from pilothouse.cli.meta import audit as list_audit
from pilothouse.cli.render import err, out, print_json

app = typer.Typer(
    rich_markup_mode=None,
    invoke_without_command=True,
    help="The audit trail, newest first (verify: check its hash chain; export: JSON Lines).",
)

Since = Annotated[
    str | None, typer.Option("--since", help="from this UTC day on (YYYY-MM-DD); all days by default")
]


@app.callback(invoke_without_command=True)
@functools.wraps(list_audit)
def _list(ctx: typer.Context, *args: Any, **kwargs: Any) -> None:
    # `pilothouse audit [--limit ...]` lists, as before; a subcommand does its own work
    if ctx.invoked_subcommand is None:
        list_audit(ctx, *args, **kwargs)


@app.command("verify")
@reports_errors
def verify(ctx: typer.Context, since: Since = None, output: OutputOption = None) -> None:
    """Check the hash chain: report every deleted, changed or reordered record (exit 1 if any)."""
    s = settings(ctx, output)
    with s.client() as client:
        report = client.get("/v1/audit/verify", since=since)
    if s.structured:
        print_json(report)
    elif report["ok"]:
        out().print(f"[green]intact[/]: {report['records']} records in {report['days']} day(s)")
    else:
        for p in report["problems"]:
            out().print(f"[red]{p['problem']}[/] {p['shard']} #{p['seq']}: {p['detail']}")
        err().print(f"{len(report['problems'])} problem(s) in {report['records']} records")
    if not report["ok"]:
        raise typer.Exit(1)


@app.command("export")
@reports_errors
def export(
    ctx: typer.Context,
    since: Since = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="write here instead of stdout")] = None,
) -> None:
    """Write the records oldest first, in chain order, one JSON object a line (for a SIEM)."""
    s = settings(ctx)
    sink = file.open("w", encoding="utf-8") if file else sys.stdout
    count = 0
    try:
        with s.client() as client:
            for items, _cursor in client.pages(
                "/v1/audit/export", {"since": since, "limit": 1000}, follow=True
            ):
                for item in items:
                    sink.write(json.dumps(item, separators=(",", ":"), ensure_ascii=False) + "\n")
                    count += 1
    finally:
        if file:
            sink.close()
    if file:
        err().print(f"{count} records written to {file}")
