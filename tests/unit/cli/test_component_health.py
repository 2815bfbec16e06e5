"""The HEALTH column of ``components list`` and the health lines of ``components get`` (issue 11)."""

from __future__ import annotations

from rich.console import Console

from pilothouse.cli import component_tree
from pilothouse.cli.render import components_table


def _render(renderable) -> str:
    console = Console(width=200, record=True, highlight=False)
    console.print(renderable)
    return console.export_text()


def _view(status: str, healthy: list[bool]) -> dict:
    replicas = [
        {
            "id": f"r{i}",
            "pid": 100 + i,
            "port": 9000 + i,
            "revision": "1.0.0+abc",
            "healthy": ok,
            "last_probe": "2026-01-01T00:00:00.000Z",
            "last_error": None if ok else "GET /health: HTTP 503",
        }
        for i, ok in enumerate(healthy)
    ]
    return {
        "name": "greeter",
        "state": "Running",
        "environment": "development",
        "provider": "local",
        "version": "1.0.0",
        "replicas": len(healthy),
        "health": {
            "status": status,
            "since": "2026-01-01T00:00:00.000Z",
            "checked_at": "2026-01-01T00:01:00.000Z",
            "replicas": replicas,
        },
        "placement": {
            "details": {
                "stable": "1.0.0+abc",
                "revisions": {"1.0.0+abc": {"version": "1.0.0", "weight": 100, "health_path": "/health"}},
                "replicas": [
                    {"id": r["id"], "pid": r["pid"], "port": r["port"], "revision": "1.0.0+abc"}
                    for r in replicas
                ],
            }
        },
    }


def test_list_has_a_health_column_with_the_healthy_count_when_some_are_not():
    """Given a Healthy and a Degraded component (1 of 2 healthy) and one never checked, when listed,
    then the HEALTH column says Healthy, Degraded 1/2 and Unknown."""
    unknown = {**_view("Healthy", [True]), "name": "idle"}
    unknown.pop("health")
    text = _render(
        components_table([_view("Healthy", [True, True]), _view("Degraded", [True, False]), unknown])
    )
    lines = text.splitlines()
    assert [c.strip() for c in lines[0].split("┃")][:3] == ["NAME", "STATE", "HEALTH"]
    assert "Healthy" in lines[2] and "Degraded 1/2" in lines[3] and "Unknown" in lines[4]


def test_get_shows_the_health_and_the_sweeps_error_per_replica():
    """Given a Degraded component, when shown as a tree without live probes, then it says
    Degraded with since/checked times and the failing replica carries the sweep's error."""
    text = _render(component_tree.component_tree(_view("Degraded", [True, False]), None, health=False))
    assert "Health:" in text and "Degraded 1/2" in text and "checked 2026-01-01T00:01:00.000Z" in text
    assert "sweep: GET /health: HTTP 503" in text
