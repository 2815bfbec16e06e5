"""``pilothouse metrics NAME [--metric M] [--since 1h]``: a component's metrics with sparklines."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from pilothouse.cli.context import OutputOption, reports_errors, settings
from pilothouse.cli.deployment_text import new_table
from pilothouse.cli.render import out, print_json

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float | None]) -> str:
    """One character per value, scaled between the smallest and largest; a gap for no data.

    >>> sparkline([0, 1, 2, None, 4])
    '▁▂▄ █'
    """
    known = [v for v in values if v is not None]
    if not known:
        return " " * len(values)
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    return "".join(" " if v is None else BARS[round((v - low) / span * (len(BARS) - 1))] for v in values)


def _default_stat(unit: str) -> str:
    return "Sum" if unit.startswith("Count") else "Average"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@reports_errors
def metrics(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="the component")],
    metric: Annotated[
        str | None, typer.Option("--metric", "-m", help="one metric (default: all of them)")
    ] = None,
    stat: Annotated[
        str | None, typer.Option("--stat", "-s", help="Sum, Average, Minimum, Maximum, SampleCount or pNN")
    ] = None,
    since: Annotated[str, typer.Option("--since", help="how far back: 30m, 1h, 2d")] = "1h",
    period: Annotated[
        int | None, typer.Option("--period", help="seconds per point (a multiple of 60)")
    ] = None,
    output: OutputOption = None,
) -> None:
    """A component's metrics over time, with sparklines.

    One line per metric (--metric for one), its default statistic Sum for counts and Average otherwise;
    -o json gives the points.
    """
    s = settings(ctx, output)
    path = f"/v1/components/{name}/metrics"
    with s.client() as client:
        series = client.get(path)["metrics"]
        names: dict[str, str] = {}
        for item in series:
            names.setdefault(item["name"], item["unit"])
        wanted = [metric] if metric else sorted(names)
        answers = [
            client.get(
                path,
                metric=m,
                stat=stat or _default_stat(names.get(m, "None")),
                start=since,
                **({"period": period} if period else {}),
            )
            for m in wanted
        ]
    if s.structured:
        print_json(answers[0] if metric else {"component": name, "metrics": answers})
        return
    if not answers:
        out().print(f"no metrics for [bold]{escape(name)}[/] yet")
        return
    table = new_table("METRIC", "STAT", "MIN", "MAX", "LATEST", f"LAST {since.upper()}")
    for answer in answers:
        values = [p["value"] for p in answer["points"]]
        known = [v for v in values if v is not None]
        table.add_row(
            escape(answer["metric"]),
            answer["stat"],
            _fmt(min(known) if known else None),
            _fmt(max(known) if known else None),
            _fmt(known[-1] if known else None),
            sparkline(values[-120:]),
        )
    out().print(table)
