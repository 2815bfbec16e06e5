"""The ``pilothouse`` command: global options and the command tree.

pilothouse [--url URL] [--api-key KEY] [-o table|json] COMMAND ...
"""

from __future__ import annotations

from typing import Annotated

import typer

from pilothouse import __version__
from pilothouse.cli import (
    components,
    config,
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
from pilothouse.cli.context import Output, Root

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
app.add_typer(config.app, name="config")
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
        Output, typer.Option("--output", "-o", case_sensitive=False, help="table or json")
    ] = Output.table,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    ctx.obj = Root(url=url, api_key=api_key, context=context, output=output)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
