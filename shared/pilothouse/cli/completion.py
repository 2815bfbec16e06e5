"""Shell completion of component names and deployment ids (``pilothouse --install-completion``).

Each asks the API with the connection the command line so far names (flags, context, environment),
and completes to nothing, quietly, when the API cannot be asked: a completion never prints an error.
"""

from __future__ import annotations

import typer

#: how many names a completion reads at most
LIMIT = 200


def _ask(ctx: typer.Context, path: str, **params: object) -> list[dict]:
    from pilothouse.cli.client import ApiError
    from pilothouse.cli.context import settings
    from pilothouse.cli.files import InputError

    try:
        with settings(ctx).client() as client:
            body = client.get(path, limit=LIMIT, **params)
    except (ApiError, InputError):
        return []
    items = body.get("items") if isinstance(body, dict) else None
    return [i for i in items or [] if isinstance(i, dict)]


def complete_component(ctx: typer.Context, incomplete: str) -> list[str]:
    """Component names that start with ``incomplete``."""
    names = (str(c.get("name", "")) for c in _ask(ctx, "/v1/components"))
    return [n for n in names if n.startswith(incomplete)]


def complete_deployment(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Deployment ids (newest first) and component names (their latest deployment), with a hint."""
    found: list[tuple[str, str]] = []
    components: list[str] = []
    for d in _ask(ctx, "/v1/deployments"):
        dep_id, component = str(d.get("id", "")), str(d.get("component", ""))
        if dep_id.startswith(incomplete):
            found.append((dep_id, f"{component} {d.get('status', '')}".strip()))
        if component.startswith(incomplete) and component not in components:
            components.append(component)
    return [(c, "its latest deployment") for c in components] + found
