"""The demo's self-healing step (``make run``): show greeter's health, SIGKILL one of its replicas
and let the health sweep replace it.

The sweep is the scheduled ``health_sweep`` function, run here at once through the dev server's
function pool (the path the scheduler takes every minute) so the demo need not wait for the minute;
its batch goes through the health queue to ``health_check`` on the worker as always.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from rich.console import Console
from rich.markup import escape

from pilothouse.cli.client import Client
from pilothouse.cli.render import health_text, replicas_table

NAME = "greeter"


def sweep_now(server: Any) -> None:
    """Run the health sweep now, as the scheduler would."""
    from pilothouse.embedded.scheduler import scheduled_event

    server.pool.invoke("HealthSweepFunction", scheduled_event("HealthSweepFunction-EveryMinute", time.time()))


def _wait(check: Any, timeout: float, interval: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    return None


def _replaced(client: Client, name: str, victim: int) -> dict[str, Any] | None:
    items = client.get(f"/v1/components/{name}/events", limit=100, order="desc").get("items") or []
    return next(
        (
            e
            for e in items
            if e.get("type") == "replica.replaced" and (e.get("replica") or {}).get("pid") == victim
        ),
        None,
    )


def self_healing(
    server: Any, client: Client, console: Console, problems: list[str], timeout: float = 60.0
) -> None:
    """Step 6: greeter's health, one replica killed, the sweep replacing it; a step that does not
    go as planned is added to ``problems``."""
    view = client.get(f"/v1/components/{NAME}")
    replicas = (view.get("placement") or {}).get("details", {}).get("replicas") or []
    if view.get("state") != "Running" or not replicas:
        console.print(f"[bold]6.[/] [dim]not showing self-healing: {NAME} is {view.get('state')}[/]")
        return
    console.print(f"[bold]6.[/] health sweep (every minute; run now): {NAME} …")
    sweep_now(server)
    view = _wait(lambda: _checked(client), timeout) or client.get(f"/v1/components/{NAME}")
    console.print(f"  {NAME} is {health_text(view)}")
    victim = int(replicas[0]["pid"])
    try:
        os.kill(victim, signal.SIGKILL)
    except ProcessLookupError:
        problems.append(f"replica pid {victim} of {NAME} was already gone")
        return
    console.print(f"  killed replica pid {victim} of {NAME} (SIGKILL); sweeping again …")
    time.sleep(0.5)  # the next sweep comes later: let the kernel deliver the signal
    sweep_now(server)
    event = _wait(lambda: _replaced(client, NAME, victim), timeout)
    if event is None:
        problems.append(f"the health sweep did not replace replica pid {victim} of {NAME}")
        return
    new = (event.get("replacement") or {}).get("pid")
    console.print(
        f"  [green]replaced pid {victim} by pid {escape(str(new))} (reason {event.get('reason')})[/]"
    )
    view = client.get(f"/v1/components/{NAME}")
    console.print(f"  {NAME} is {health_text(view)}, still {view.get('state')}")
    console.print(replicas_table((view.get("health") or {}).get("replicas") or []))


def _checked(client: Client) -> dict[str, Any] | None:
    view = client.get(f"/v1/components/{NAME}")
    return view if (view.get("health") or {}).get("checked_at") else None
