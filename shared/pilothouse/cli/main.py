"""The ``pilothouse`` command: global options and the command tree.

pilothouse [--url URL] [--api-key KEY] [-o table|json] COMMAND ...
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from pilothouse import __version__
from pilothouse.cli import (
    components,
    deployments,
    executions,
    freezes,
    keys,
    local,
    meta,
    promotions,
    workflow_run,
    workflows,
)
from pilothouse.cli.client import DEFAULT_URL
from pilothouse.cli.context import Output, Settings

app = typer.Typer(
    name="pilothouse",
    help="Pilothouse: deploy and operate multi-component serverless systems.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)
app.add_typer(components.app, name="components")
app.add_typer(deployments.app, name="deployments")
app.add_typer(keys.app, name="keys")
app.add_typer(workflows.app, name="workflows")
app.add_typer(executions.app, name="executions")
app.add_typer(executions.tasks, name="tasks")
app.add_typer(workflow_run.app, name="workflow")
app.command("promote")(promotions.promote_environment)
app.command("freeze")(freezes.freeze)
app.command("unfreeze")(freezes.unfreeze)
app.command("freezes")(freezes.freezes)
app.command("status")(meta.status)
app.command("audit")(meta.audit)
app.command("dev")(local.dev)
app.command("demo")(local.demo)
app.command("invoke")(local.invoke)


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
            "--url", envvar="PILOTHOUSE_URL", help=f"API base URL [{DEFAULT_URL}]", show_default=False
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="PILOTHOUSE_API_KEY",
            show_envvar=True,
            help="API key, sent as a bearer token",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Output, typer.Option("--output", "-o", case_sensitive=False, help="table or json")
    ] = Output.table,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    ctx.obj = Settings(
        url=url or os.environ.get("PILOTHOUSE_URL") or DEFAULT_URL, api_key=api_key, output=output
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
