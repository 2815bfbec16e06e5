"""The ``pilothouse`` command: global options and the command tree.

pilothouse [--url URL] [--api-key KEY] [-o table|json] COMMAND ...
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from pilothouse import __version__
from pilothouse.cli.context import Output, Root

#: every command, loaded only when it runs (or its own help is asked for): NAME -> (module, attribute,
#: the line the root's help shows). An attribute is a sub-app (a Typer) or a command function.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "promote": (
        "promotions",
        "promote_environment",
        "Promote the version a component runs to the next environment's component.",
    ),
    "freeze": (
        "freezes",
        "freeze",
        "Freeze a component or an environment: no deploys, updates or retries until unfrozen.",
    ),
    "unfreeze": ("freezes", "unfreeze", "Lift the freeze of a component or an environment."),
    "freezes": ("freezes", "freezes", "List the frozen components and environments."),
    "status": ("meta", "status", "Is the control plane up? (no API key needed)"),
    "audit": (
        "audit",
        "app",
        "The audit trail, newest first (verify: check its hash chain; export: JSON Lines).",
    ),
    "dev": ("local", "dev", "Run the local control plane (gateway, worker, scheduler) until Ctrl-C."),
    "demo": (
        "local",
        "demo",
        "Start the local control plane, deploy the examples, and keep serving until Ctrl-C.",
    ),
    "migrate": ("local", "migrate", "Bring the store to this release's layout (idempotent; resumable)."),
    "invoke": (
        "local",
        "invoke",
        "Invoke one of the project's functions locally with an event and print its JSON result.",
    ),
    "components": ("components", "app", "Register, deploy and operate components."),
    "deployments": (
        "deployments",
        "app",
        "Follow and steer deployments: approve, promote, pause, resume, abort, roll back.",
    ),
    "keys": ("keys", "app", "Manage API keys (admin)."),
    "config": (
        "config",
        "app",
        "Contexts (which API the CLI talks to) and components' config: get, set, import, diff,"
        " history, rollback, watch.",
    ),
    "workflows": ("workflows", "app", "Manage workflows (Amazon States Language definitions, versioned)."),
    "executions": ("executions", "app", "Start and follow workflow executions."),
    "tasks": ("executions", "tasks", "Answer tasks waiting for a callback (.waitForTaskToken)."),
    "workflow": ("workflow_run", "app", "Validate and run workflow (ASL) definitions locally, offline."),
    "backups": ("backups", "app", "Backups: take, verify, restore, drill (admin)."),
    "secrets": ("secrets", "app", "Secrets: write-only values config references."),
    "metrics": ("metrics", "metrics", "A component's metrics over time, with sparklines."),
    "autoscale": ("autoscale", "app", "A component's autoscaling policy: get, set, disable."),
    "notifications": (
        "notifications",
        "app",
        "Notification channels (webhook, Slack, Teams) and deliveries.",
    ),
    "alerts": ("alerts", "app", "Alert rules and the alerts they raise: list, ack, silence."),
    "systems": (
        "systems",
        "app",
        "Systems: components deployed, promoted and stopped together in dependency order.",
    ),
    "webhooks": (
        "webhooks",
        "app",
        "Inbound webhook sources (GitHub, GitLab, generic) and their deliveries.",
    ),
    "login": ("login", "login", "Sign in with your identity provider (OIDC device code)."),
    "logout": ("login", "logout", "Forget the sign-in kept for this API URL."),
    "policies": ("policies", "app", "Deployment policies (CEL rules checked before a change is accepted)."),
}


def load_command(name: str) -> Any:
    """The click command ``name`` stands for, its module imported now."""
    module_name, attribute, _ = COMMANDS[name]
    target = getattr(importlib.import_module(f"pilothouse.cli.{module_name}"), attribute)
    if not isinstance(target, typer.Typer):
        single = typer.Typer(rich_markup_mode=None)
        single.command(name)(target)
        target = single
    command = typer.main.get_command(target)
    command.name = name
    return command


class LazyGroup(TyperGroup):
    """The root group: its commands' modules load only when one of them is used, so ``--help`` and
    a single command stay fast (the root's help lists them from :data:`COMMANDS`)."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *COMMANDS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        if self._listing:
            line = COMMANDS[cmd_name][2]
            return TyperCommand(name=cmd_name, help=line, short_help=line)
        return load_command(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="pilothouse",
    cls=LazyGroup,
    help="Pilothouse: deploy and operate multi-component serverless systems.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    # plain help, as kubectl's: typer's rich help loads rich.markdown, markdown-it and pygments (the
    # better part of a second's start-up); the commands' own output still uses rich
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"pilothouse {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="API base URL [env PILOTHOUSE_URL, else the context's, else http://127.0.0.1:8080]",
            show_default=False,
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            help="API key, sent as a bearer token [env PILOTHOUSE_API_KEY, else the context's]",
            show_default=False,
        ),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(
            "--context",
            envvar="PILOTHOUSE_CONTEXT",
            help="use this context's URL and key (pilothouse config get-contexts)",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Output, typer.Option("--output", "-o", case_sensitive=False, help="table, wide, json or yaml")
    ] = Output.table,
    ca_file: Annotated[
        str | None,
        typer.Option(
            "--ca-file",
            envvar="PILOTHOUSE_CA_FILE",
            help="trust this CA (PEM) for an https:// URL besides the system's (pilothouse dev --tls-*)",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    ctx.obj = Root(url=url, api_key=api_key, context=context, output=output)
    if ca_file:
        from pilothouse.cli import client

        client.CA_FILE = ca_file


def main() -> None:
    app()


if __name__ == "__main__":
    main()
