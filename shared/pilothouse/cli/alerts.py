"""``pilothouse alerts …``: rules (create, list, get, delete) and alerts (list, get, ack, silence)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from pilothouse.cli.context import OutputOption, reports_errors, settings
from pilothouse.cli.deployment_text import cell, new_table
from pilothouse.cli.files import InputError, load_document
from pilothouse.cli.render import out, print_json

app = typer.Typer(
    help="Alert rules and the alerts they raise: list, ack, silence.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
rules = typer.Typer(
    help="Create, list, read and delete alert rules.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(rules, name="rules")

COMPARATORS = {
    ">": "GreaterThanThreshold",
    ">=": "GreaterThanOrEqualToThreshold",
    "<": "LessThanThreshold",
    "<=": "LessThanOrEqualToThreshold",
}
STATE_STYLES = {"OK": "green", "PENDING": "yellow", "FIRING": "bold red", "RESOLVED": "cyan"}


@rules.command()
@reports_errors
def create(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="the rule's name (or give it in --file)")] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", "-k", help="metric, health, event or backup_age")
    ] = None,
    file: Annotated[
        str | None, typer.Option("--file", "-f", help="the rule as YAML or JSON (- : stdin)")
    ] = None,
    component: Annotated[str | None, typer.Option("--component", "-c")] = None,
    metric: Annotated[str | None, typer.Option("--metric", "-m", help="metric rules: the metric")] = None,
    denominator: Annotated[
        str | None,
        typer.Option("--denominator", help="metric rules: divide by this metric (errors/requests)"),
    ] = None,
    stat: Annotated[str | None, typer.Option("--stat", help="Average, Sum, Maximum, p99...")] = None,
    comparator: Annotated[
        str | None, typer.Option("--comparator", help="> >= < <= (or CloudWatch's names)")
    ] = None,
    threshold: Annotated[float | None, typer.Option("--threshold")] = None,
    period: Annotated[
        int | None, typer.Option("--period", help="seconds per datapoint (multiple of 60)")
    ] = None,
    evaluation_periods: Annotated[int | None, typer.Option("--evaluation-periods", "-n")] = None,
    datapoints_to_alarm: Annotated[int | None, typer.Option("--datapoints-to-alarm", "-M")] = None,
    missing_data: Annotated[
        str | None, typer.Option("--missing-data", help="missing, ignore, breaching or not_breaching")
    ] = None,
    for_minutes: Annotated[float | None, typer.Option("--for-minutes", help="health rules")] = None,
    events: Annotated[list[str] | None, typer.Option("--event", "-e", help="event rules, repeatable")] = None,
    rpo_minutes: Annotated[float | None, typer.Option("--rpo-minutes", help="backup_age rules")] = None,
    severity: Annotated[str | None, typer.Option("--severity", help="critical, warning or info")] = None,
    output: OutputOption = None,
) -> None:
    """Create an alert rule from flags or a file (flags override the file's keys).

    pilothouse alerts rules create web-errors -k metric -c web -m error_rate --comparator '>'
    --threshold 0.05 -n 3 -M 2
    """
    try:
        body: dict[str, Any] = dict(load_document(file)) if file else {}
    except (InputError, TypeError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--file") from None
    flags = {
        "name": name,
        "kind": kind,
        "component": component,
        "metric": metric,
        "denominator": denominator,
        "stat": stat,
        "comparator": COMPARATORS.get(comparator or "", comparator),
        "threshold": threshold,
        "period": period,
        "evaluation_periods": evaluation_periods,
        "datapoints_to_alarm": datapoints_to_alarm,
        "missing_data": missing_data,
        "for_minutes": for_minutes,
        "events": events,
        "rpo_minutes": rpo_minutes,
        "severity": severity,
    }
    body.update({k: v for k, v in flags.items() if v is not None})
    if "name" not in body or "kind" not in body:
        raise typer.BadParameter("give the rule's NAME and --kind (or a --file with both)")
    s = settings(ctx, output)
    with s.client() as client:
        rule = client.post("/v1/alerts/rules", body)
    if s.structured:
        print_json(rule)
    else:
        out().print(f"[green]✓[/] created {escape(body['kind'])} rule [bold]{escape(rule['name'])}[/]")


@rules.command("list")
@reports_errors
def list_rules(ctx: typer.Context, output: OutputOption = None) -> None:
    """List alert rules."""
    s = settings(ctx, output)
    with s.client() as client:
        items = client.get("/v1/alerts/rules")["items"]
    if s.structured:
        print_json({"items": items})
    else:
        out().print(rules_table(items) if items else "no alert rules")


@rules.command("get")
@reports_errors
def get_rule(ctx: typer.Context, name: str, output: OutputOption = None) -> None:
    """Show an alert rule."""
    s = settings(ctx, output)
    with s.client() as client:
        rule = client.get(f"/v1/alerts/rules/{name}")
    if s.structured:
        print_json(rule)
    else:
        out().print(rules_table([rule]))


@rules.command("delete")
@reports_errors
def delete_rule(ctx: typer.Context, name: str, output: OutputOption = None) -> None:
    """Delete an alert rule and its alert (the history stays)."""
    s = settings(ctx, output)
    with s.client() as client:
        client.delete(f"/v1/alerts/rules/{name}")
    if s.structured:
        print_json({"name": name, "deleted": True})
    else:
        out().print(f"[green]✓[/] deleted rule [bold]{escape(name)}[/]")


@app.command("list")
@reports_errors
def list_alerts(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option("--state", help="OK, PENDING, FIRING or RESOLVED")] = None,
    output: OutputOption = None,
) -> None:
    """List alerts and their states."""
    s = settings(ctx, output)
    with s.client() as client:
        items = client.get("/v1/alerts", **({"state": state.upper()} if state else {}))["items"]
    if s.structured:
        print_json({"items": items})
    else:
        out().print(alerts_table(items) if items else "no alerts")


@app.command()
@reports_errors
def get(ctx: typer.Context, name: str, output: OutputOption = None) -> None:
    """Show an alert: state, the values that decided it, ack, silence and history."""
    s = settings(ctx, output)
    with s.client() as client:
        alert = client.get(f"/v1/alerts/{name}")
    if s.structured:
        print_json(alert)
        return
    console = out()
    console.print(alerts_table([alert]))
    if alert.get("last_values"):
        console.print(f"values: {cell(alert['last_values'])}")
    table = new_table("AT", "CHANGE", "BY", "VALUES / REASON")
    for h in alert.get("history") or []:
        change = f"{h.get('from')} → {h.get('to')}" if h["type"] == "state" else h["type"]
        table.add_row(
            cell(h.get("at")), escape(change), cell(h.get("actor")), cell(h.get("values") or h.get("reason"))
        )
    console.print(table)


@app.command()
@reports_errors
def ack(
    ctx: typer.Context,
    name: str,
    comment: Annotated[str, typer.Option("--comment", "-m", help="who is on it, what is done")] = "",
    output: OutputOption = None,
) -> None:
    """Acknowledge a pending or firing alert."""
    s = settings(ctx, output)
    with s.client() as client:
        alert = client.post(f"/v1/alerts/{name}/ack", {"comment": comment})
    if s.structured:
        print_json(alert)
    else:
        out().print(f"[green]✓[/] acknowledged [bold]{escape(name)}[/] ({escape(alert['state'])})")


@app.command()
@reports_errors
def silence(
    ctx: typer.Context,
    name: str,
    reason: Annotated[str, typer.Option("--reason", "-m", help="why (required)")],
    minutes: Annotated[float, typer.Option("--minutes", help="how long", min=1)] = 60,
    output: OutputOption = None,
) -> None:
    """Silence an alert's notifications for a while (its state still moves)."""
    s = settings(ctx, output)
    with s.client() as client:
        alert = client.post(f"/v1/alerts/{name}/silence", {"minutes": minutes, "reason": reason})
    if s.structured:
        print_json(alert)
    else:
        until = (alert.get("silenced") or {}).get("until")
        out().print(f"[green]✓[/] silenced [bold]{escape(name)}[/] until {escape(str(until))}")


def _condition(rule: dict[str, Any]) -> str:
    kind = rule.get("kind")
    if kind == "metric":
        sign = {v: k for k, v in COMPARATORS.items()}.get(rule["comparator"], rule["comparator"])
        m = rule.get("datapoints_to_alarm") or rule["evaluation_periods"]
        measured = f"{rule['stat']}({rule['metric']})"
        if rule.get("denominator"):
            measured += f" / {rule['stat']}({rule['denominator']})"
        return (
            f"{measured} {sign} {rule['threshold']} "
            f"in {m} of {rule['evaluation_periods']} × {rule['period']}s"
        )
    if kind == "health":
        return f"Unhealthy for {rule['for_minutes']} min"
    if kind == "event":
        return "on " + ", ".join(rule["events"])
    if kind == "backup_age":
        return f"newest backup older than {rule['rpo_minutes']} min"
    return "-"


def rules_table(items: list[dict[str, Any]]) -> Table:
    table = new_table("NAME", "KIND", "COMPONENT", "CONDITION", "SEVERITY")
    for r in items:
        rule = r.get("rule") or {}
        table.add_row(
            cell(r.get("name")),
            cell(rule.get("kind")),
            cell(rule.get("component")),
            escape(_condition(rule)),
            cell(rule.get("severity")),
        )
    return table


def alerts_table(items: list[dict[str, Any]]) -> Table:
    table = new_table("RULE", "STATE", "SINCE", "COMPONENT", "SEVERITY", "ACK", "SILENCED UNTIL")
    for a in items:
        state = a.get("state") or ""
        table.add_row(
            cell(a.get("rule")),
            f"[{STATE_STYLES.get(state, 'white')}]{escape(state)}[/]",
            cell(a.get("since")),
            cell(a.get("component")),
            cell(a.get("severity")),
            cell((a.get("acknowledged") or {}).get("by")),
            cell((a.get("silenced") or {}).get("until")),
        )
    return table
