"""``pilothouse promote``: the version a component runs goes on to the next environment's component
(development → staging → production), through a promotion workflow and the target's strategy."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from pilothouse.cli.context import OutputOption, reports_errors, settings
from pilothouse.cli.prog import program
from pilothouse.cli.render import err, out, print_json
from pilothouse.cli.strategies import StrategyOption, strategy_value
from pilothouse.cli.workflow_render import status_text as execution_status
from pilothouse.engine.model import SUCCEEDED

PROMOTION_WORKFLOW = "pilothouse-promote-environment"
#: the promotion's task that the deployment it starts answers (not the user)
START_DEPLOYMENT = "StartDeployment"


def _deployment_answers(client: Any, task: dict[str, Any], target: str) -> str | None:
    """The line for the promotion's StartDeployment callback: the deployment answers it when it ends."""
    if task.get("state") != START_DEPLOYMENT:
        return None
    latest = (client.get("/v1/deployments", component=target, limit=1).get("items") or [None])[0]
    if not latest:
        return f"waiting for the deployment of [bold]{escape(target)}[/] to start"
    dep_id = escape(str(latest.get("id")))
    return (
        f"waiting for the deployment {dep_id} of [bold]{escape(target)}[/] "
        f"(watch it: {program()} deployments watch {dep_id})"
    )


@reports_errors
def promote_environment(
    ctx: typer.Context,
    source: Annotated[str, typer.Option("--from", help="the component whose running version goes on")],
    target: Annotated[str, typer.Option("--to", help="the component in the next environment")],
    strategy: StrategyOption = None,
    wait: Annotated[
        bool,
        typer.Option("--wait", "-w", help="follow the promotion until it ends; exit 1 unless it SUCCEEDED"),
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0, help="seconds --wait waits at most (default: no limit)"),
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option("--idempotency-key", help="reuse a key to make a retried call safe")
    ] = None,
    output: OutputOption = None,
) -> None:
    """Promote the version a component runs to the next environment's component.

    development → staging → production, through the target's strategy and gates.
    """
    from pilothouse.cli import executions

    s = settings(ctx, output)
    body: dict[str, Any] = {"source": source, "target": target}
    if strategy is not None:
        body["strategy"] = strategy_value(strategy)
    as_json = s.structured
    with s.client() as client:
        view = client.post("/v1/promotions", body, idempotency_key=idempotency_key)
        workflow = view.get("workflow") or PROMOTION_WORKFLOW
        name = escape(str(view.get("name")))
        if not wait:
            if as_json:
                print_json(view)
            else:
                out().print(
                    f"[green]✓[/] promoting [bold]{escape(source)}[/] → [bold]{escape(target)}[/]: execution "
                    f"{name} ({execution_status(view.get('status'))}); follow with: {program()} "
                    f"executions describe {escape(workflow)} {name}; the deployment: {program()} deployments "
                    f"list --component {escape(target)}"
                )
            return
        console = err() if as_json else out()
        console.print(f"promoting [bold]{escape(source)}[/] → [bold]{escape(target)}[/] (execution {name})")
        try:
            view, timed_out = executions.follow(
                client,
                {**view, "workflow": workflow},
                console=console,
                timeout=timeout,
                answered_by=lambda task: _deployment_answers(client, task, target),
            )
        except KeyboardInterrupt:
            err().print(f"stopped waiting; the promotion {name} goes on")
            raise typer.Exit(130) from None
    if as_json:
        print_json(view)
    status = view.get("status")
    if timed_out:
        err().print(
            f"[yellow]⏱[/] timed out after {timeout:g}s; promotion {name} is still "
            f"{execution_status(status)} (it goes on)"
        )
        raise typer.Exit(1)
    deployment = ((view.get("output") or {}) if isinstance(view.get("output"), dict) else {}).get(
        "deployment"
    )
    dep_id = (deployment or {}).get("deployment_id")
    if status == SUCCEEDED:
        console.print(
            f"[green]✓[/] promoted [bold]{escape(source)}[/] → [bold]{escape(target)}[/]"
            + (f" (deployment {escape(str(dep_id))})" if dep_id else "")
        )
        return
    report = err()
    report.print(f"[bold red]✗[/] promotion {name} {execution_status(status)}")
    if view.get("error") or view.get("cause"):
        report.print(
            f"  {escape(str(view.get('error') or '-'))}: {escape(str(view.get('cause') or '-'))}",
            soft_wrap=True,
        )
    report.print(f"  [dim]see: {program()} deployments list --component {escape(target)}[/]")
    raise typer.Exit(1)
