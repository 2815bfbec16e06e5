"""``pilothouse config get|set|import|diff|history|rollback|watch``: components' config (issue 13).

These join the contexts commands under ``pilothouse config`` (``set-context``, ``get-contexts``...):
no name is shared, so both keep working. ``--set NAME`` or ``--environment-overrides ENV`` on
``set``/``import``/``get`` address a shared config set or an environment's overrides instead of a
component.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from pilothouse.cli.context import OutputOption, reports_errors, settings
from pilothouse.cli.files import InputError
from pilothouse.cli.render import out, print_json

Component = Annotated[str | None, typer.Argument(help="the component (omit with --set or --env-overrides)")]
EnvOption = Annotated[
    str | None, typer.Option("--environment", "-e", help="the environment (default: the component's own)")
]
SetOption = Annotated[str | None, typer.Option("--set", help="a shared config set instead of a component")]
EnvOverrides = Annotated[
    str | None, typer.Option("--env-overrides", help="an environment's overrides instead of a component")
]
Message = Annotated[str, typer.Option("--message", "-m", help="why (kept with the version)")]


def _target(component: str | None, config_set: str | None, env_overrides: str | None) -> str:
    given = [x for x in (component, config_set, env_overrides) if x]
    if len(given) != 1:
        raise typer.BadParameter("name one: a COMPONENT, --set NAME or --env-overrides ENV")
    if config_set:
        return f"/v1/config-sets/{config_set}"
    if env_overrides:
        return f"/v1/environments/{env_overrides}/config"
    return f"/v1/components/{component}/config"


def _assignments(pairs: list[str]) -> dict[str, Any]:
    """``a.b=1`` pairs → ``{"a": {"b": 1}}`` (values are JSON when they parse, else text)."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InputError(f"{pair!r}: expected KEY=VALUE (KEY may be dotted: db.port=5432)")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        node = values
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise InputError(f"{key!r}: {part!r} is set to a value and a map")
        node[parts[-1]] = value
    return values


def _print_change(answer: dict[str, Any], structured: bool) -> None:
    if structured:
        print_json(answer)
        return
    version = answer["version"]
    if not answer["changed"]:
        out().print(f"[yellow]no change[/]: {escape(version['scope'])} stays at version {version['version']}")
        return
    out().print(f"[green]✓[/] {escape(version['scope'])} version {version['version']} ({version['kind']})")
    deployment = answer.get("deployment")
    if deployment:
        out().print(f"  rollout: {escape(json.dumps(deployment))}")
    for item in answer.get("components") or []:
        rest = {k: v for k, v in item.items() if k != "component"}
        out().print(f"  {escape(item['component'])}: {escape(json.dumps(rest))}")


def get(
    ctx: typer.Context,
    component: Component = None,
    environment: EnvOption = None,
    config_set: SetOption = None,
    env_overrides: EnvOverrides = None,
    output: OutputOption = None,
) -> None:
    """Show a component's resolved config (or a shared set's, an environment's overrides)."""
    path = _target(component, config_set, env_overrides)
    s = settings(ctx, output)
    with s.client() as client:
        answer = client.get(path, environment=environment if component else None)
    print_json(answer if s.structured or not component else answer["config"])


def set_(
    ctx: typer.Context,
    assignments: Annotated[
        list[str] | None, typer.Argument(help="KEY=VALUE pairs (dotted keys nest)")
    ] = None,
    component: Annotated[str | None, typer.Option("--component", "-c", help="the component")] = None,
    environment: EnvOption = None,
    config_set: SetOption = None,
    env_overrides: EnvOverrides = None,
    include: Annotated[
        list[str] | None, typer.Option("--include", help="shared sets to include, in order")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="replace the overrides instead of merging")
    ] = False,
    strategy: Annotated[str | None, typer.Option("--strategy", help="the rollout's strategy")] = None,
    message: Message = "",
    output: OutputOption = None,
) -> None:
    """Set keys of a component's config (merged over its overrides unless --replace): a new
    version, rolled out as a deployment when the component runs."""
    path = _target(component, config_set, env_overrides)
    body: dict[str, Any] = {
        "values": _assignments(assignments or []),
        "merge": not replace,
        "message": message,
    }
    if component:
        body.update(environment=environment, includes=include, strategy=strategy)
    s = settings(ctx, output)
    with s.client() as client:
        answer = client.request("PUT", path, json={k: v for k, v in body.items() if v is not None})
    _print_change(answer, s.structured)


def import_(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="a .yaml/.yml, .json or .env file", exists=True, dir_okay=False)
    ],
    component: Annotated[str | None, typer.Option("--component", "-c", help="the component")] = None,
    environment: EnvOption = None,
    config_set: SetOption = None,
    env_overrides: EnvOverrides = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="yaml, json or env (default: by suffix)")
    ] = None,
    merge: Annotated[bool, typer.Option("--merge", help="merge over the current values")] = False,
    message: Message = "",
    output: OutputOption = None,
) -> None:
    """Import a YAML, JSON or .env file as a new version (replacing the overrides unless --merge)."""
    path = _target(component, config_set, env_overrides)
    suffix = file.suffix.lower().lstrip(".")
    kind = fmt or {"yml": "yaml", "yaml": "yaml", "json": "json", "env": "env"}.get(suffix)
    if kind is None and file.name.startswith(".env"):
        kind = "env"
    if kind not in ("yaml", "json", "env"):
        raise InputError(f"{file}: say its format with --format yaml|json|env")
    body = {
        "content": file.read_text(encoding="utf-8"),
        "format": kind,
        "merge": merge,
        "message": message or f"import {file.name}",
        **({"environment": environment} if component and environment else {}),
    }
    s = settings(ctx, output)
    with s.client() as client:
        answer = client.request("PUT", path, json=body)
    _print_change(answer, s.structured)


def history(
    ctx: typer.Context,
    component: Annotated[str, typer.Argument(help="the component")],
    environment: EnvOption = None,
    limit: Annotated[int, typer.Option("--limit", help="how many, newest first")] = 20,
    output: OutputOption = None,
) -> None:
    """A component's config versions, newest first (author, message, time)."""
    s = settings(ctx, output)
    with s.client() as client:
        page = client.get(f"/v1/components/{component}/config/versions", environment=environment, limit=limit)
    if s.structured:
        print_json(page)
        return
    for v in page["items"]:
        extra = f" (from v{v['restored_from']})" if v.get("restored_from") else ""
        out().print(
            f"v{v['version']:<4} {v['created_at']}  {v['kind']:<10} {escape(v['author'])}  "
            f"{escape(v['message'])}{extra}"
        )


def diff(
    ctx: typer.Context,
    component: Annotated[str, typer.Argument(help="the component")],
    from_version: Annotated[int, typer.Argument(help="the older version")],
    to_version: Annotated[int, typer.Argument(help="the newer version")],
    environment: EnvOption = None,
    output: OutputOption = None,
) -> None:
    """What changed in the resolved config between two versions."""
    s = settings(ctx, output)
    with s.client() as client:
        answer = client.get(
            f"/v1/components/{component}/config/diff",
            environment=environment,
            from_version=from_version,
            to_version=to_version,
        )
    if s.structured:
        print_json(answer)
        return
    if not answer["changes"]:
        out().print("no difference")
    marks = {"added": "[green]+[/]", "removed": "[red]-[/]", "changed": "[yellow]~[/]"}
    for c in answer["changes"]:
        before = f" {json.dumps(c['from'])}" if "from" in c else ""
        after = f" → {json.dumps(c['to'])}" if "to" in c else ""
        out().print(f"{marks[c['op']]} {escape(c['path'])}:{escape(before)}{escape(after)}")


def rollback(
    ctx: typer.Context,
    component: Annotated[str, typer.Argument(help="the component")],
    version: Annotated[int, typer.Argument(help="the version whose content comes back")],
    environment: EnvOption = None,
    message: Message = "",
    output: OutputOption = None,
) -> None:
    """Roll a component's config back to a version (a new version with its content)."""
    body = {"version": version, "environment": environment, "message": message or None}
    s = settings(ctx, output)
    with s.client() as client:
        answer = client.post(
            f"/v1/components/{component}/config/rollback", {k: v for k, v in body.items() if v is not None}
        )
    _print_change(answer, s.structured)


def watch(
    ctx: typer.Context,
    component: Annotated[str, typer.Argument(help="the component")],
    environment: EnvOption = None,
    count: Annotated[int, typer.Option("--count", help="stop after this many versions (0: never)")] = 0,
    output: OutputOption = None,
) -> None:
    """Print the resolved config, then each newer version as it is written (long poll)."""
    s = settings(ctx, output)
    seen = 0
    after: int | None = None
    with s.client() as client:
        wait = max(1, min(25, int(client.timeout) - 5))
        while True:
            params: dict[str, Any] = {"environment": environment}
            if after is not None:
                params.update(wait=wait, after_version=after)
            answer = client.get(f"/v1/components/{component}/config", **params)
            if after is None or answer["version"] > after:
                after = answer["version"]
                seen += 1
                print_json(
                    answer if s.structured else {"version": answer["version"], "config": answer["config"]}
                )
                if count and seen >= count:
                    return


def register(app: typer.Typer) -> None:
    """Add the commands to the ``pilothouse config`` group."""
    for name, fn in (
        ("get", get),
        ("set", set_),
        ("import", import_),
        ("diff", diff),
        ("history", history),
        ("rollback", rollback),
        ("watch", watch),
    ):
        app.command(name)(reports_errors(fn))
