"""The demo's autoscaler step (``make run``): a target-tracking policy on greeter and a few minutes of
traffic, so the autoscaler scales it out while the demo serves and back in after its cooldown."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape

if TYPE_CHECKING:
    from rich.console import Console

    from pilothouse.cli.client import Client
    from pilothouse.cli.demo import DemoRun

NAME = "greeter"
TARGET, SCALE_IN_COOLDOWN = 2, 120
POLICY: dict[str, object] = {
    "target_tracking": [{"metric": "requests_per_replica", "target": TARGET}],
    "scale_out_cooldown": 60,
    "scale_in_cooldown": SCALE_IN_COOLDOWN,
}
#: the traffic the demo sends: requests per second, for this many seconds
RATE, SECONDS = 8.0, 180


def start_load(url: str | None) -> None:
    """Send ``RATE`` requests per second to ``url`` for ``SECONDS`` from a daemon thread."""
    import threading

    from pilothouse.cli.demo import Traffic

    if not url:
        return
    traffic = Traffic(url, rate=RATE, limit=int(RATE * SECONDS))
    traffic.__enter__()
    threading.Timer(SECONDS + 5, traffic.__exit__).start()


def show_autoscaler(client: Client, console: Console, run: DemoRun, command: str = "./pilothouse") -> None:
    """Step 6: set greeter's policy and send it traffic (the autoscaler acts once a minute)."""
    from pilothouse.cli.client import ApiError

    if NAME not in run.names:
        return
    view = client.get(f"/v1/components/{NAME}")
    if view["state"] != "Running":
        console.print(f"[bold]6.[/] [dim]no autoscaling demo: {NAME} is {view['state']}[/]")
        return
    try:
        client.put(f"/v1/components/{NAME}/autoscaling", POLICY)
    except ApiError as exc:
        run.problems.append(f"autoscaling policy of {NAME}: {exc}")
        return
    start_load(view.get("url"))
    console.print(
        f"[bold]6.[/] autoscaling {NAME}: target {TARGET} req/s per replica;"
        f" {SECONDS // 60} minutes of traffic at {RATE:g} req/s → it scales out to its max within about two"
        f" minutes, then back in after a {SCALE_IN_COOLDOWN} s cooldown once the traffic stops."
    )
    console.print(
        f"   watch it: {escape(command)} autoscale get {NAME}   ·   {escape(command)} metrics {NAME}"
    )
