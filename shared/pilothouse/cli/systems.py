"""``pilothouse systems …``: create, get, list, deploy, update, promote, stop, delete; ``--wait``
follows the rollout with one line per member as its step changes."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from pilothouse.cli.client import Client
from pilothouse.cli.context import OutputOption, reports_errors, settings
from pilothouse.cli.files import load_mapping
from pilothouse.cli.render import err, out, print_json

app = typer.Typer(
    help="Systems: components deployed, promoted and stopped together in dependency order.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

Name = Annotated[str, typer.Argument(help="the system's name")]
Wait = Annotated[bool, typer.Option("--wait", "-w", help="follow the rollout, member by member, to its end")]
Timeout = Annotated[float, typer.Option("--timeout", help="seconds --wait waits at most", min=0)]
Parallel = Annotated[
    int | None, typer.Option("--max-parallel", help="members changed at once", min=1, max=20)
]
Versions = Annotated[
    list[str] | None, typer.Option("--version", help="member=version (repeatable)", show_default=False)
]
DONE = {"succeeded", "rolled_back", "failed", "aborted"}
#: seconds between two looks at a rollout under --wait
POLL_SECONDS = 0.5
MARKS = {
    "succeeded": "[green]✓[/]",
    "unchanged": "[dim]=[/]",
    "failed": "[red]✗[/]",
    "rolled_back": "[yellow]↶[/]",
    "rollback_failed": "[red]✗↶[/]",
    "in_progress": "[cyan]…[/]",
    "rolling_back": "[yellow]…↶[/]",
    "pending": "[dim]·[/]",
    "not_started": "[dim]-[/]",
}


def _versions(pairs: list[str] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, version = pair.partition("=")
        if not sep or not name or not version:
            raise typer.BadParameter(f"{pair!r}: write member=version", param_hint="--version")
        found[name.strip()] = version.strip()
    return found


def show(view: dict[str, Any]) -> None:
    """A system as a short table: each member's state, version, health and the rollout's step."""
    from rich.table import Table

    rollout = view.get("rollout") or {}
    steps = rollout.get("members") or {}
    table = Table(title=f"{view['name']} ({view.get('environment')}) health {view.get('health')}")
    for column in ("member", "state", "version", "health", "rollout step"):
        table.add_column(column)
    for m in view.get("members", []):
        step = (steps.get(m["name"]) or {}).get("step", "")
        table.add_row(m["name"], m["state"], m.get("version") or "-", m["health"], step)
    out().print(table)
    if rollout:
        out().print(f"rollout {rollout['id']}: {rollout.get('action')} {rollout['status']}")
        if rollout.get("error"):
            out().print(f"  [red]{rollout['error']}[/]")


def follow(
    client: Client, name: str, rollout_id: str, *, timeout: float, poll: float = 0.5
) -> dict[str, Any]:
    """Print each member's step as it changes until the rollout ends (or ``timeout``)."""
    console = err()
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while True:
        view = client.get(f"/v1/systems/{name}")
        rollout = view.get("rollout") or {}
        if rollout.get("id") != rollout_id:
            return view
        for member in [n for wave in rollout["waves"] for n in wave]:
            info = rollout["members"][member]
            step = info["step"]
            if seen.get(member) != step:
                seen[member] = step
                target = info.get("to_version") or ""
                detail = f" {info.get('from_version') or '-'} → {target}" if target else ""
                why = (
                    f": {info['error']}"
                    if info.get("error") and step in ("failed", "rollback_failed")
                    else ""
                )
                console.print(f"{MARKS.get(step, '?')} {member} {step}{detail}{why}")
        if rollout["status"] in DONE or time.monotonic() >= deadline:
            return view
        time.sleep(POLL_SECONDS)


def _rollout(
    ctx: typer.Context, name: str, path: str, body: dict[str, Any], wait: bool, timeout: float, output
) -> None:
    s = settings(ctx, output)
    with s.client() as client:
        view = client.post(path, body)
        rollout = view.get("rollout") or {}
        target = view["name"]
        if wait:
            view = follow(client, target, rollout["id"], timeout=timeout)
    rollout = view.get("rollout") or {}
    if s.structured:
        print_json(view)
    elif not wait:
        out().print(
            f"[green]✓[/] {rollout.get('action')} of system [bold]{target}[/] started: "
            f"rollout {rollout.get('id')}"
        )
    else:
        show(view)
    if wait and rollout.get("status") != "succeeded":
        raise typer.Exit(1)


@app.command()
@reports_errors
def create(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="system spec, YAML or JSON; - reads stdin")],
    output: OutputOption = None,
) -> None:
    """Register a system from its spec (name, components, max_parallel)."""
    s = settings(ctx, output)
    with s.client() as client:
        view = client.post("/v1/systems", load_mapping(file, "a system spec"))
    print_json(view) if s.structured else out().print(
        f"[green]✓[/] system [bold]{view['name']}[/] registered"
    )


@app.command("list")
@reports_errors
def list_(ctx: typer.Context, output: OutputOption = None) -> None:
    """List systems."""
    s = settings(ctx, output)
    with s.client() as client:
        page = client.get("/v1/systems")
    if s.structured:
        print_json(page)
        return
    for item in page["items"]:
        rollout = item.get("rollout") or {}
        members = ", ".join(m["name"] for m in item["spec"]["components"])
        out().print(f"{item['name']}  [{members}]  {rollout.get('action', '')} {rollout.get('status', '')}")


@app.command()
@reports_errors
def get(ctx: typer.Context, name: Name, output: OutputOption = None) -> None:
    """A system: members, health, version set and its latest rollout."""
    s = settings(ctx, output)
    with s.client() as client:
        view = client.get(f"/v1/systems/{name}")
    print_json(view) if s.structured else show(view)


@app.command()
@reports_errors
def deploy(
    ctx: typer.Context,
    name: Name,
    version: Versions = None,
    max_parallel: Parallel = None,
    wait: Wait = False,
    timeout: Timeout = 3600.0,
    output: OutputOption = None,
) -> None:
    """Deploy every member in dependency order (each with its own strategy)."""
    body: dict[str, Any] = {"versions": _versions(version)}
    if max_parallel:
        body["max_parallel"] = max_parallel
    _rollout(ctx, name, f"/v1/systems/{name}/deploy", body, wait, timeout, output)


@app.command()
@reports_errors
def update(
    ctx: typer.Context,
    name: Name,
    version: Versions = None,
    max_parallel: Parallel = None,
    wait: Wait = False,
    timeout: Timeout = 3600.0,
    output: OutputOption = None,
) -> None:
    """Update members to new versions (--version member=version, repeatable)."""
    body: dict[str, Any] = {"versions": _versions(version)}
    if max_parallel:
        body["max_parallel"] = max_parallel
    _rollout(ctx, name, f"/v1/systems/{name}/update", body, wait, timeout, output)


@app.command()
@reports_errors
def promote(
    ctx: typer.Context,
    name: Name,
    to: Annotated[str, typer.Option("--to", help="the twin system in the next environment")],
    wait: Wait = False,
    timeout: Timeout = 3600.0,
    output: OutputOption = None,
) -> None:
    """Promote the versions this system runs to its twin system in the next environment."""
    _rollout(ctx, name, f"/v1/systems/{name}/promote", {"to": to}, wait, timeout, output)


@app.command()
@reports_errors
def stop(
    ctx: typer.Context, name: Name, wait: Wait = False, timeout: Timeout = 600.0, output: OutputOption = None
) -> None:
    """Stop every member, dependents first."""
    _rollout(ctx, name, f"/v1/systems/{name}/stop", {}, wait, timeout, output)


@app.command()
@reports_errors
def delete(ctx: typer.Context, name: Name, output: OutputOption = None) -> None:
    """Forget a system (its components stay as they are)."""
    s = settings(ctx, output)
    with s.client() as client:
        client.delete(f"/v1/systems/{name}")
    out().print(f"[green]✓[/] system [bold]{name}[/] deleted")
