"""``components get NAME`` as a tree, as ``kubectl argo rollouts get rollout`` shows one: the component,
its revisions with their traffic weights, each revision's replicas (pid, port, health), and the
current or last deployment with the step it is at.

Revisions and replicas come from the component's placement (``placement.details``: the local provider
records ``revisions`` and ``replicas``); the deployment from ``/v1/deployments?component=NAME``.
Health is asked of each replica on the loopback only (the URL the provider recorded), briefly.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from pilothouse.cli.deployment_text import FINAL, status_text, step_status, step_text, waiting_text
from pilothouse.cli.listing import age
from pilothouse.cli.render import health_text, print_last_error, state_text

#: seconds a replica's health check may take
HEALTH_TIMEOUT = 0.5
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def probe(url: str | None, path: str | None) -> str | None:
    """ "healthy", "unhealthy (503)", "unreachable", or None when not asked (not on this machine)."""
    if not url or urlsplit(url).hostname not in LOOPBACK:
        return None
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url.rstrip("/") + (path or "/"), timeout=HEALTH_TIMEOUT) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        status = exc.code
    except (OSError, ValueError):
        return "unreachable"
    return "healthy" if status < 400 else f"unhealthy ({status})"


def _health_text(health: str | None) -> str:
    if health is None:
        return "[dim]-[/]"
    style = "green" if health == "healthy" else "red"
    return f"[{style}]{escape(health)}[/]"


def revisions_of(view: dict[str, Any], deployment: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The component's revisions, stable first, each with its replicas (may be empty). While a
    deployment runs, its own placement and weights are the current ones."""
    details = (view.get("placement") or {}).get("details") or {}
    live = deployment is not None and deployment.get("status") not in FINAL
    if live and deployment and deployment.get("placement"):
        details = (deployment.get("placement") or {}).get("details") or details
    revisions = {k: dict(v) for k, v in (details.get("revisions") or {}).items()}
    if live and deployment:
        for rid, weight in (deployment.get("weights") or {}).items():
            revisions.setdefault(rid, {"version": deployment.get("to_version")})["weight"] = weight
    replicas = details.get("replicas") or []
    stable, candidate = details.get("stable"), details.get("candidate")
    found = []
    for rid, rev in revisions.items():
        role = "stable" if rid == stable else "canary" if rid == candidate else ""
        found.append(
            {
                "id": rid,
                "role": role,
                "version": rev.get("version"),
                "weight": rev.get("weight"),
                "health_path": rev.get("health_path"),
                "replicas": [r for r in replicas if r.get("revision") == rid],
            }
        )
    found.sort(key=lambda r: (r["role"] != "stable", r["role"] != "canary", str(r["id"])))
    return found


def component_tree(
    view: dict[str, Any], deployment: dict[str, Any] | None, *, health: bool = True
) -> RenderableType:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    spec = view.get("spec") or {}
    grid.add_row("Name:", escape(str(view.get("name"))))
    grid.add_row("State:", state_text(view.get("state")))
    grid.add_row(
        "Environment:", f"{escape(str(view.get('environment')))}  [dim]provider[/] {view.get('provider')}"
    )
    version = escape(str(view.get("version") or "-"))
    if spec.get("version") and spec.get("version") != view.get("version"):
        version += f"  [dim](spec {escape(str(spec['version']))})[/]"
    grid.add_row("Version:", version)
    grid.add_row("Replicas:", escape(str(view.get("replicas"))))
    h = view.get("health") or {}
    swept = f"  [dim]since {escape(str(h.get('since')))}, checked {escape(str(h.get('checked_at')))}[/]"
    grid.add_row("Health:", health_text(view) + (swept if h.get("since") else ""))
    grid.add_row("URL:", escape(str(view.get("url") or "-")))
    labels = spec.get("labels") or {}
    if labels:
        grid.add_row("Labels:", escape(", ".join(f"{k}={v}" for k, v in sorted(labels.items()))))
    grid.add_row("Allowed:", escape(", ".join(view.get("allowed_commands") or []) or "-"))
    grid.add_row("Age:", age(view.get("created_at")))
    if deployment:
        grid.add_row("Deployment:", deployment_line(deployment))
        waiting = waiting_text(deployment) if deployment.get("status") not in FINAL else None
        if waiting:
            grid.add_row("", waiting)

    tree = Tree(
        f"[bold]⟳ {escape(str(view.get('name')))}[/]  [dim]Component[/]  {state_text(view.get('state'))}"
    )
    revisions = revisions_of(view, deployment)
    swept_errors = {
        str(r.get("id")): r.get("last_error") for r in h.get("replicas") or [] if r.get("last_error")
    }
    number = 0  # replicas are numbered across revisions, as `components logs --replica N` takes them
    for rev in revisions:
        role = f" [cyan]({rev['role']})[/]" if rev["role"] else ""
        weight = f"  weight {rev['weight']}%" if rev.get("weight") is not None else ""
        branch = tree.add(
            f"[bold]# revision {escape(str(rev['id']))}[/]{role}  {escape(str(rev.get('version')))}{weight}"
        )
        for r in rev["replicas"]:
            checked = probe(r.get("url"), rev.get("health_path")) if health else None
            error = swept_errors.get(str(r.get("id")))
            branch.add(
                f"□ replica {number}  [dim]pid[/] {r.get('pid')}  [dim]port[/] {r.get('port')}  "
                f"{_health_text(checked)}" + (f"  [red]sweep: {escape(str(error))}[/]" if error else "")
            )
            number += 1
    if not revisions:
        tree.add("[dim]no revisions running[/]")
    parts: list[RenderableType] = [grid, "", tree]
    return Group(*parts)


def deployment_line(d: dict[str, Any]) -> str:
    steps = d.get("steps") or []
    at = next((s for s in steps if s.get("status") in ("running", "waiting")), None)
    step = ""
    if at is not None:
        step = (
            f"; step {at.get('index')}/{len(steps)} {escape(step_text(at))} {step_status(at.get('status'))}"
        )
    return (
        f"{escape(str(d.get('id')))} {escape(str(d.get('command') or ''))} "
        f"{status_text(d.get('status'))}{step}"
    )


def print_component(
    view: dict[str, Any], deployment: dict[str, Any] | None, console: Any, *, health: bool
) -> None:
    console.print(component_tree(view, deployment, health=health))
    if view.get("last_error"):
        print_last_error(view["last_error"], console)
