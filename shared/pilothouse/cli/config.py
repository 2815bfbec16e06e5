"""``pilothouse config …``: named contexts (an API URL and key each), so environment variables are
optional. Stored by :mod:`pilothouse.cli.userconfig`; a key is never printed back, only masked."""

from __future__ import annotations

from typing import Annotated

import typer

from pilothouse.cli.context import OutputOption, reports_errors, settings
from pilothouse.cli.files import InputError
from pilothouse.cli.prog import program

app = typer.Typer(
    help="Contexts (which API the CLI talks to) and components' config: get, set, import, diff,"
    " history, rollback, watch.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

ContextName = Annotated[str, typer.Argument(help="the context's name")]


def _complete_context(incomplete: str) -> list[str]:
    from pilothouse.cli import userconfig

    try:
        names = userconfig.load().contexts
    except InputError:
        return []
    return [n for n in names if n.startswith(incomplete)]


KnownContext = Annotated[str, typer.Argument(help="the context's name", autocompletion=_complete_context)]


@app.command("set-context")
@reports_errors
def set_context(
    name: ContextName,
    url: Annotated[str | None, typer.Option("--url", help="the API base URL")] = None,
    key: Annotated[
        str | None, typer.Option("--key", "--api-key", help="the API key (stored 0600, never shown again)")
    ] = None,
    use: Annotated[bool, typer.Option("--use", help="also make it the current context")] = False,
) -> None:
    """Create a context or change its URL and/or key (the first context becomes the current one)."""
    from pilothouse.cli import userconfig
    from pilothouse.cli.render import out

    userconfig.check_name(name)
    if url is not None and not url.startswith(("http://", "https://")):
        raise InputError(f"--url {url!r}: an http:// or https:// URL")

    def edit(config: userconfig.UserConfig) -> None:
        existing = config.contexts.get(name)
        if existing is None and url is None:
            raise InputError(f"a new context needs --url (context {name!r} does not exist yet)")
        ctx = existing or userconfig.Context(name)
        if url is not None:
            ctx.url = url
        if key is not None:
            ctx.api_key = key or None
        config.contexts[name] = ctx
        if use or not config.current:
            config.current = name

    config = userconfig.change(edit)
    shown = config.contexts[name].shown()
    current = " (current)" if config.current == name else ""
    out().print(
        f"[green]✓[/] context [bold]{name}[/]{current}: {shown['url']}, key {shown['api_key'] or 'none'}",
        markup=True,
    )


@app.command("use-context")
@reports_errors
def use_context(name: KnownContext) -> None:
    """Make a context the current one."""
    from pilothouse.cli import userconfig
    from pilothouse.cli.render import out

    def edit(config: userconfig.UserConfig) -> None:
        if name not in config.contexts:
            known = ", ".join(sorted(config.contexts)) or "none yet"
            raise InputError(f"no context {name!r}; contexts: {known}")
        config.current = name

    userconfig.change(edit)
    out().print(f'[green]✓[/] switched to context "{name}"')


@app.command("delete-context")
@reports_errors
def delete_context(name: KnownContext) -> None:
    """Remove a context (and its key)."""
    from pilothouse.cli import userconfig
    from pilothouse.cli.render import out

    def edit(config: userconfig.UserConfig) -> None:
        if config.contexts.pop(name, None) is None:
            raise InputError(f"no context {name!r}")
        if config.current == name:
            config.current = None

    userconfig.change(edit)
    out().print(f"[green]✓[/] deleted context {name}")


@app.command("get-contexts")
@reports_errors
def get_contexts(ctx: typer.Context, output: OutputOption = None) -> None:
    """List the contexts; * marks the current one. Keys are masked."""
    from rich.table import Table

    from pilothouse.cli import userconfig
    from pilothouse.cli.render import out, print_json

    config = userconfig.load()
    rows = [c.shown() | {"current": c.name == config.current} for c in config.contexts.values()]
    if settings(ctx, output, connect=False).structured:
        print_json({"current_context": config.current, "contexts": rows})
        return
    if not rows:
        out().print(f"no contexts yet: {program()} config set-context NAME --url URL --key KEY")
        return
    table = Table(show_edge=False, pad_edge=False)
    for col in ("CURRENT", "NAME", "URL", "KEY"):
        table.add_column(col)
    for r in rows:
        table.add_row("*" if r["current"] else "", r["name"], r["url"] or "-", r["api_key"] or "-")
    out().print(table)


@app.command("current-context")
@reports_errors
def current_context() -> None:
    """Print the current context's name (exit 1 if none is set)."""
    from pilothouse.cli import userconfig
    from pilothouse.cli.render import err

    config = userconfig.load()
    if not config.current:
        err().print(f"no current context ({program()} config use-context NAME)")
        raise typer.Exit(1)
    print(config.current)


def _with_component_config() -> None:
    """The components' config commands (get, set, import, diff, history, rollback, watch) join the
    contexts commands in this group."""
    from pilothouse.cli import component_config

    component_config.register(app)


_with_component_config()
