"""``pilothouse autoscale get|set|disable NAME``: a component's autoscaling policy (issue 11 §5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from pilothouse.cli.context import OutputOption, reports_errors, settings
from pilothouse.cli.deployment_text import new_table
from pilothouse.cli.render import out, print_json

app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="A component's autoscaling policy: get, set, disable."
)

Name = Annotated[str, typer.Argument(help="the component")]


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _show(view: dict[str, Any]) -> None:
    policy = view.get("policy")
    name = escape(view["component"])
    if policy is None:
        out().print(f"[bold]{name}[/]: no autoscaling policy (min {view['min']}, max {view['max']})")
        return
    state = "[green]enabled[/]" if policy["enabled"] else "[yellow]disabled[/]"
    out().print(
        f"[bold]{name}[/]: autoscaling {state}, {view['replicas']} replica(s)"
        f" within \\[{view['min']}, {view['max']}];"
        f" cooldowns out {policy['scale_out_cooldown']} s / in {policy['scale_in_cooldown']} s;"
        f" last scale-out {_when(view.get('last_scale_out'))}, scale-in {_when(view.get('last_scale_in'))}"
    )
    for t in policy["target_tracking"]:
        out().print(f"  target tracking: {escape(t['metric'])} at {t['target']:g} (±{t['tolerance']:.0%})")
    for st in policy["step_scaling"]:
        steps = ", ".join(f"[{x['lower']}, {x['upper']}) → {x['change']:+g}" for x in st["steps"])
        out().print(f"  step scaling: {escape(st['metric'])} {st['adjustment']}: {escape(steps)}")
    for sc in policy["scheduled"]:
        out().print(
            f"  schedule {escape(sc['name'] or sc['cron'])}: '{escape(sc['cron'])}' {sc['timezone']}"
            f" min {sc['min']} max {sc['max']}"
        )
    if view["decisions"]:
        table = new_table("AT", "ACTION", "REPLICAS", "OUTCOME", "REASON")
        for d in view["decisions"][:10]:
            table.add_row(
                d["at"],
                d["action"],
                f"{d['current']} → {d['desired']}",
                d.get("outcome") or "",
                escape(d["reason"]),
            )
        out().print(table)


@app.command("get")
@reports_errors
def get(ctx: typer.Context, name: Name, output: OutputOption = None) -> None:
    """The policy, the bounds and the latest decisions with their reasons."""
    s = settings(ctx, output)
    with s.client() as client:
        view = client.get(f"/v1/components/{name}/autoscaling")
    print_json(view) if s.structured else _show(view)


def _schedule(text: str) -> dict[str, Any]:
    """``CRON@ZONE=MIN:MAX`` (either bound may be empty), e.g. ``0 8 * * 1-5@Europe/Paris=4:``."""
    cron_zone, sep, bounds = text.rpartition("=")
    if not sep:
        raise typer.BadParameter(f"--schedule {text!r}: CRON[@ZONE]=MIN:MAX")
    cron, _, zone = cron_zone.partition("@")
    low, _, high = bounds.partition(":")
    out: dict[str, Any] = {"cron": cron.strip(), "timezone": zone.strip() or "UTC"}
    try:
        if low.strip():
            out["min"] = int(low)
        if high.strip():
            out["max"] = int(high)
    except ValueError:
        raise typer.BadParameter(f"--schedule {text!r}: MIN and MAX are whole numbers") from None
    return out


@app.command("set")
@reports_errors
def set_(
    ctx: typer.Context,
    name: Name,
    requests_per_replica: Annotated[
        float | None, typer.Option("--requests-per-replica", help="target requests/s per replica")
    ] = None,
    p99_ms: Annotated[float | None, typer.Option("--p99-ms", help="target p99 latency in ms")] = None,
    schedule: Annotated[
        list[str] | None, typer.Option("--schedule", help="CRON[@ZONE]=MIN:MAX, repeatable")
    ] = None,
    scale_out_cooldown: Annotated[int | None, typer.Option("--scale-out-cooldown", help="seconds")] = None,
    scale_in_cooldown: Annotated[int | None, typer.Option("--scale-in-cooldown", help="seconds")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="the whole policy as JSON or YAML (options add to it)")
    ] = None,
    output: OutputOption = None,
) -> None:
    """Set the policy (target tracking, steps, schedules, cooldowns); min and max are the spec's."""
    policy: dict[str, Any] = {}
    if file is not None:
        import yaml

        text = file.read_text()
        policy = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
        if not isinstance(policy, dict):
            raise typer.BadParameter(f"{file}: a policy is a mapping")
    tracking = list(policy.get("target_tracking") or [])
    if requests_per_replica is not None:
        tracking.append({"metric": "requests_per_replica", "target": requests_per_replica})
    if p99_ms is not None:
        tracking.append({"metric": "p99_latency_ms", "target": p99_ms})
    if tracking:
        policy["target_tracking"] = tracking
    if schedule:
        policy["scheduled"] = [*(policy.get("scheduled") or []), *(_schedule(x) for x in schedule)]
    if scale_out_cooldown is not None:
        policy["scale_out_cooldown"] = scale_out_cooldown
    if scale_in_cooldown is not None:
        policy["scale_in_cooldown"] = scale_in_cooldown
    if not policy:
        raise typer.BadParameter("say what to track: --requests-per-replica, --p99-ms, --schedule or --file")
    s = settings(ctx, output)
    with s.client() as client:
        view = client.put(f"/v1/components/{name}/autoscaling", policy)
    print_json(view) if s.structured else _show(view)


@app.command("disable")
@reports_errors
def disable(ctx: typer.Context, name: Name, output: OutputOption = None) -> None:
    """Stop autoscaling the component (the policy is kept: set enables it again)."""
    s = settings(ctx, output)
    with s.client() as client:
        view = client.delete(f"/v1/components/{name}/autoscaling")
    print_json(view) if s.structured else out().print(
        f"[green]✓[/] autoscaling of [bold]{escape(name)}[/] disabled"
    )
