"""``pilothouse components …``: register, list, get, events, the lifecycle commands, deregister."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from pilothouse.cli import component_files, component_logs
from pilothouse.cli.client import ApiError, Client
from pilothouse.cli.completion import complete_component
from pilothouse.cli.component_events import follow_events
from pilothouse.cli.context import (
    AllPages,
    Cursor,
    IdemKey,
    Output,
    OutputOption,
    PageSize,
    reports_errors,
    settings,
)
from pilothouse.cli.files import InputError, apply_sets, load_mapping
from pilothouse.cli.prog import program
from pilothouse.cli.render import (
    components_table,
    err,
    events_table,
    out,
    print_json,
    print_page,
)
from pilothouse.cli.strategies import StrategyOption, strategy_value

app = typer.Typer(
    help="Register, deploy and operate components.", no_args_is_help=True, rich_markup_mode=None
)


def _states() -> list[str]:
    from pilothouse.domain.lifecycle import State

    return [s.value for s in State]


Name = Annotated[str, typer.Argument(help="the component's name", autocompletion=complete_component)]
Wait = Annotated[bool, typer.Option("--wait", "-w", help="follow the command until the component is at rest")]
Timeout = Annotated[float, typer.Option("--timeout", help="seconds --wait waits at most", min=0)]
#: deployments bake, analyse and wait for approvals: their --wait waits longer
DeployTimeout = Annotated[
    float, typer.Option("--timeout", help="seconds --wait waits at most (the deployment goes on)", min=0)
]


app.command()(component_files.validate)
app.command()(component_files.apply)
app.command()(component_logs.logs)


def _path(name: str, suffix: str = "") -> str:
    return f"/v1/components/{name}{suffix}"


@app.command()
@reports_errors
def register(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="component spec, YAML or JSON; - reads stdin")],
    idempotency_key: IdemKey = None,
    output: OutputOption = None,
) -> None:
    """Register a component from its spec file."""
    s = settings(ctx, output)
    spec = load_mapping(file, "a component spec")
    with s.client() as client:
        try:
            view = client.post("/v1/components", spec, idempotency_key=idempotency_key)
        except ApiError as exc:
            exc.body_source = "stdin" if file == "-" else file
            raise
    if s.structured:
        print_json(view)
    else:
        out().print(
            f"[green]✓[/] registered [bold]{view['name']}[/] ({view['state']}); "
            f"next: {program()} components deploy {view['name']} --wait"
        )


Selector = Annotated[
    list[str] | None,
    typer.Option(
        "--selector",
        "-l",
        help="only components whose spec labels match: key=value, key!=value or key (repeatable or "
        "comma-separated; filtered here, the API has no selector: every page is read)",
    ),
]
WatchOption = Annotated[
    bool,
    typer.Option("--watch", "-w", help="after the list, print each component that changes, until Ctrl-C"),
]
#: seconds between reads of ``list --watch``
WATCH_SECONDS = 2.0


@app.command("list")
@reports_errors
def list_(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option("--state", help="only components in this state")] = None,
    environment: Annotated[
        str | None, typer.Option("--environment", "-e", help="only this environment")
    ] = None,
    selector: Selector = None,
    limit: PageSize = 50,
    cursor: Cursor = None,
    all_pages: AllPages = False,
    watch: WatchOption = False,
    output: OutputOption = None,
) -> None:
    """List components (-o wide: more columns; -l team=web: by label; --watch: then their changes)."""
    from pilothouse.cli.listing import matches, parse_selector

    s = settings(ctx, output)
    if state is not None:
        states = _states()
        match = [st for st in states if st.lower() == state.lower()]
        if not match:
            raise typer.BadParameter(f"one of {', '.join(states)}", param_hint="--state")
        state = match[0]
    wanted = parse_selector(selector or [])
    params = {"state": state, "environment": environment, "limit": limit, "cursor": cursor}

    def read(client: Client) -> tuple[list[dict[str, Any]], str | None]:
        items, next_cursor = client.collect("/v1/components", params, follow=all_pages or bool(wanted))
        return [c for c in items if matches(c, wanted)], next_cursor

    with s.client() as client:
        items, next_cursor = read(client)
        if s.structured:
            print_page(items, next_cursor)
        else:
            console = out()
            if not items:
                console.print("no components" + (" match" if state or environment or wanted else " yet"))
            else:
                console.print(components_table(items, wide=s.output is Output.wide))
        _more(next_cursor)
        if watch:
            from pilothouse.cli.listing import watch_changes

            watch_changes(
                lambda: read(client)[0],
                items,
                key="name",
                fields=("state", "version", "replicas", "url", "updated_at"),
                structured=s.structured,
                line=lambda c: components_table([c], wide=s.output is Output.wide, header=False),
                interval=WATCH_SECONDS,
                sleep=time.sleep,
            )


def _more(cursor: str | None) -> None:
    if cursor:
        err().print(f"[dim]more: --cursor {cursor} (or --all)[/]")


@app.command()
@reports_errors
def get(
    ctx: typer.Context,
    name: Name,
    health: Annotated[
        bool, typer.Option("--health/--no-health", help="ask each local replica for its health")
    ] = True,
    output: OutputOption = None,
) -> None:
    """Show one component as a tree: revisions and weights, replicas, the current or last deployment."""
    s = settings(ctx, output)
    with s.client() as client:
        view = client.get(_path(name))
        if s.structured:
            print_json(view)
            return
        latest = (client.get("/v1/deployments", component=name, limit=1).get("items") or [None])[0]
        deployment = client.get(f"/v1/deployments/{latest['id']}") if latest else None
    from pilothouse.cli.component_tree import print_component

    print_component(view, deployment, out(), health=health)


@app.command()
@reports_errors
def events(
    ctx: typer.Context,
    name: Name,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="how many")] = 50,
    order: Annotated[str, typer.Option("--order", help="asc (oldest first) or desc")] = "asc",
    cursor: Cursor = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="keep printing new events until Ctrl-C")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", help="seconds between polls with --follow", min=0.05)
    ] = 1.0,
    output: OutputOption = None,
) -> None:
    """A component's history (kept after deregistration)."""
    s = settings(ctx, output)
    if order not in ("asc", "desc"):
        raise typer.BadParameter("asc or desc", param_hint="--order")
    with s.client() as client:
        if follow:
            follow_events(client, name, limit=limit, interval=interval, as_json=s.structured)
            return
        body = client.get(_path(name, "/events"), limit=limit, order=order, cursor=cursor)
    items = body.get("items", [])
    if s.structured:
        print_json(body)
    else:
        out().print(events_table(items) if items else "no events")
    _more(body.get("next_cursor"))


def _command(
    ctx: typer.Context,
    name: str,
    command: str,
    body: dict[str, Any],
    *,
    wait: bool,
    timeout: float,
    idempotency_key: str | None,
    output: Output | None,
    client: Client | None = None,
) -> None:
    from pilothouse.cli.wait import DEPLOYING, report, wait_for

    s = settings(ctx, output)
    client = client or s.client()
    with client:
        view = client.post(_path(name, f"/{command}"), body, idempotency_key=idempotency_key)
        as_json = s.structured
        if not wait:
            if as_json:
                print_json(view)
            else:
                op_id = (view.get("operation") or {}).get("id")
                follow = (
                    f"deployment {op_id}; watch it with: {program()} deployments watch {op_id}"
                    if command in DEPLOYING and op_id
                    else f"follow with: {program()} components events {name} --follow"
                )
                out().print(f"[green]✓[/] {command} accepted: [bold]{name}[/] is {view['state']}; {follow}")
            return
        # progress goes to stderr when stdout carries JSON
        console = err() if as_json else out()
        try:
            result = wait_for(client, view, command, console=console, timeout=timeout)
        except KeyboardInterrupt:
            err().print(f"stopped waiting; the {command} of {name} goes on (see: components get {name})")
            raise typer.Exit(130) from None
    if as_json:
        print_json(result.view)
    report(result, command, err() if (as_json or not result.ok) else out())
    if not result.ok:
        raise typer.Exit(1)


@app.command()
@reports_errors
def deploy(
    ctx: typer.Context,
    name: Name,
    version: Annotated[
        str | None, typer.Option("--version", help="deploy this version, not the spec's")
    ] = None,
    strategy: StrategyOption = None,
    wait: Wait = False,
    timeout: DeployTimeout = 3600.0,
    idempotency_key: IdemKey = None,
    output: OutputOption = None,
) -> None:
    """Deploy a registered component (a deployment: see pilothouse deployments)."""
    body: dict[str, Any] = {"version": version} if version else {}
    if strategy is not None:
        body["strategy"] = strategy_value(strategy)
    _command(
        ctx, name, "deploy", body, wait=wait, timeout=timeout, idempotency_key=idempotency_key, output=output
    )


@app.command()
@reports_errors
def update(
    ctx: typer.Context,
    name: Name,
    version: Annotated[str | None, typer.Option("--version", help="roll to this version")] = None,
    config: Annotated[
        str | None, typer.Option("--config", help="the new config, a YAML or JSON file")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="key=value on top of the config (repeatable)")
    ] = None,
    strategy: StrategyOption = None,
    wait: Wait = False,
    timeout: DeployTimeout = 3600.0,
    idempotency_key: IdemKey = None,
    output: OutputOption = None,
) -> None:
    """Roll a running component to a new version and/or config, by its (or --strategy's) strategy.

    --set without --config changes the component's current config one key at a time.
    """
    s = settings(ctx, output)
    strategy_body = strategy_value(strategy) if strategy is not None else None
    client = s.client()
    body: dict[str, Any] = {}
    if version:
        body["version"] = version
    new_config = load_mapping(config, "a config") if config else None
    if set_:
        if new_config is None:
            current = client.get(_path(name))
            new_config = (current.get("spec") or {}).get("config") or {}
        new_config = apply_sets(new_config, set_)
    if new_config is not None:
        body["config"] = new_config
    if not body:
        raise InputError("nothing to update: give --version, --config or --set")
    if strategy_body is not None:
        body["strategy"] = strategy_body
    _command(
        ctx,
        name,
        "update",
        body,
        wait=wait,
        timeout=timeout,
        idempotency_key=idempotency_key,
        output=output,
        client=client,
    )


@app.command()
@reports_errors
def scale(
    ctx: typer.Context,
    name: Name,
    replicas: Annotated[
        int | None, typer.Argument(help="the number of replicas", min=0, show_default=False)
    ] = None,
    replicas_opt: Annotated[
        int | None, typer.Option("--replicas", "-r", help="same as REPLICAS", min=0)
    ] = None,
    wait: Wait = False,
    timeout: Timeout = 300.0,
    idempotency_key: IdemKey = None,
    output: OutputOption = None,
) -> None:
    """Change the number of replicas: scale NAME 3 (or --replicas 3)."""
    if (replicas is None) == (replicas_opt is None):
        raise typer.BadParameter("give the number of replicas once: scale NAME N or --replicas N")
    _command(
        ctx,
        name,
        "scale",
        {"replicas": replicas if replicas is not None else replicas_opt},
        wait=wait,
        timeout=timeout,
        idempotency_key=idempotency_key,
        output=output,
    )


@app.command()
@reports_errors
def stop(
    ctx: typer.Context,
    name: Name,
    wait: Wait = False,
    timeout: Timeout = 300.0,
    idempotency_key: IdemKey = None,
    output: OutputOption = None,
) -> None:
    """Stop a running component."""
    _command(
        ctx, name, "stop", {}, wait=wait, timeout=timeout, idempotency_key=idempotency_key, output=output
    )


@app.command()
@reports_errors
def retry(
    ctx: typer.Context,
    name: Name,
    strategy: StrategyOption = None,
    wait: Wait = False,
    timeout: DeployTimeout = 3600.0,
    idempotency_key: IdemKey = None,
    output: OutputOption = None,
) -> None:
    """Deploy a failed component again."""
    body = {"strategy": strategy_value(strategy)} if strategy is not None else {}
    _command(
        ctx, name, "retry", body, wait=wait, timeout=timeout, idempotency_key=idempotency_key, output=output
    )


@app.command()
@reports_errors
def rollback(
    ctx: typer.Context,
    name: Name,
    version: Annotated[
        str | None, typer.Option("--version", help="roll back to this version (default: the previous one)")
    ] = None,
    wait: Wait = False,
    timeout: DeployTimeout = 3600.0,
    idempotency_key: IdemKey = None,
    output: OutputOption = None,
) -> None:
    """Break-glass: roll back now, skipping gates, analysis and freezes.

    Mid-deployment, that deployment goes back to its stable version; otherwise the previous
    revision (the version and config the last succeeded change replaced), or --version with the
    config that runs, is deployed at once.
    """
    body = {"version": version} if version else {}
    _command(
        ctx,
        name,
        "rollback",
        body,
        wait=wait,
        timeout=timeout,
        idempotency_key=idempotency_key,
        output=output,
    )


@app.command()
@reports_errors
def deregister(ctx: typer.Context, name: Name, output: OutputOption = None) -> None:
    """Remove a Registered, Stopped or Failed component (its history is kept)."""
    s = settings(ctx, output)
    with s.client() as client:
        client.delete(_path(name))
    if s.structured:
        print_json({"name": name, "deregistered": True})
    else:
        out().print(f"[green]✓[/] deregistered [bold]{name}[/]")
