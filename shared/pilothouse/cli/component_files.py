"""``components validate FILE`` (offline, with the domain's own spec model) and ``components apply -f
FILE`` (register the component, or update it to match the file; ``--dry-run`` prints the diff)."""

from __future__ import annotations

import difflib
from typing import Annotated, Any

import typer

from pilothouse.cli.context import OutputOption, reports_errors, settings
from pilothouse.cli.files import InputError, load_mapping
from pilothouse.cli.prog import program

#: what ``update`` changes on a registered component; any other field needs deregister + register
UPDATABLE = ("version", "config")


def spec_errors(doc: Any) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    """The spec normalised by the domain's model, or the mistakes in it (each with its field)."""
    from pydantic import ValidationError

    from pilothouse.domain.components import ComponentSpec

    if not isinstance(doc, dict):
        return None, [{"field": "(document)", "message": "a component spec is a mapping"}]
    try:
        return ComponentSpec.model_validate(doc).model_dump(mode="json"), []
    except ValidationError as exc:
        return None, [_explain(e, ComponentSpec) for e in exc.errors()]


def _explain(error: Any, model: Any) -> dict[str, str]:
    loc = [str(p) for p in error.get("loc", ())]
    field = ".".join(loc) or "(document)"
    kind, message = error.get("type"), str(error.get("msg", "")).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        known = list(model.model_fields) if len(loc) == 1 else []
        close = difflib.get_close_matches(loc[-1], known, n=1) if known else []
        message = "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
    elif kind == "string_type" and isinstance(error.get("input"), int | float):
        message = f"must be a string: quote it ({field}: '{error['input']}')"
    return {"field": field, "message": message}


def _print_errors(errors: list[dict[str, str]], source: str) -> None:
    from rich.markup import escape

    from pilothouse.cli.render import err

    console = err()
    console.print(f"[bold red]invalid[/] {escape(source)}: {len(errors)} error(s)")
    for e in errors:
        console.print(f"  [red]•[/] [bold]{escape(e['field'])}[/]: {escape(e['message'])}", soft_wrap=True)


def validate(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="component spec, YAML or JSON; - reads stdin")],
    output: OutputOption = None,
) -> None:
    """Check a component spec offline (no server): "valid", or each mistake with its field (exit 1)."""
    from pilothouse.cli.files import load_document
    from pilothouse.cli.render import out, print_json

    s = settings(ctx, output, connect=False)
    try:
        spec, errors = spec_errors(load_document(file))
    except InputError as exc:
        raise typer.BadParameter(str(exc)) from None
    if s.structured:
        print_json({"valid": not errors, "errors": errors})
    elif errors:
        _print_errors(errors, file)
    else:
        out().print(f"[green]valid[/]: component {spec['name'] if spec else ''}")
    if errors:
        raise typer.Exit(1)


def _yaml(doc: Any) -> list[str]:
    import yaml

    return yaml.safe_dump(doc, sort_keys=True, default_flow_style=False).splitlines(keepends=True)


def plan(current: dict[str, Any], desired: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The update body that brings ``current`` (the API's view) to ``desired`` (a normalised spec),
    and the fields that differ but no update can change."""
    spec = dict(current.get("spec") or {})
    body: dict[str, Any] = {}
    running = current.get("version") or spec.get("version")
    if desired.get("version") != running:
        body["version"] = desired.get("version")
    if (desired.get("config") or {}) != (spec.get("config") or {}):
        body["config"] = desired.get("config") or {}
    differ = {k for k in set(spec) | set(desired) if spec.get(k) != desired.get(k)}
    fixed = sorted(differ - set(UPDATABLE))
    return body, fixed


@reports_errors
def apply(
    ctx: typer.Context,
    file: Annotated[str, typer.Option("--file", "-f", help="component spec, YAML or JSON; - reads stdin")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print what would change (a diff) and change nothing")
    ] = False,
    output: OutputOption = None,
) -> None:
    """Register the component in FILE, or update it to match the file (its version and config).

    Other fields (target, scaling, labels, …) cannot change in place: apply says which and stops.
    """
    from pilothouse.cli.client import ApiError
    from pilothouse.cli.render import out, print_json

    s = settings(ctx, output)
    raw = load_mapping(file, "a component spec")
    spec, errors = spec_errors(raw)
    if errors or spec is None:
        _print_errors(errors, file)
        raise typer.Exit(1)
    name = spec["name"]
    console = out()
    with s.client() as client:
        try:
            current = client.get(f"/v1/components/{name}")
        except ApiError as exc:
            if exc.status != 404:
                raise
            current = None
        if current is None:
            if dry_run:
                console.print(f"would register [bold]{name}[/] (it does not exist yet)")
                return
            view = client.post("/v1/components", raw)
            if s.structured:
                print_json(view)
            else:
                console.print(
                    f"[green]✓[/] registered [bold]{name}[/] ({view['state']}); "
                    f"next: {program()} components deploy {name} --wait"
                )
            return
        body, fixed = plan(current, spec)
        if dry_run or fixed:
            before = {**(current.get("spec") or {}), "version": current.get("version") or spec.get("version")}
            text = "".join(
                difflib.unified_diff(_yaml(before), _yaml(spec), f"{name} (registered)", f"{name} ({file})")
            )
            if text:
                print(text, end="" if text.endswith("\n") else "\n")
        if fixed:
            raise InputError(
                f"{', '.join(fixed)} of {name} cannot change in place (only version and config can): "
                f"deregister and register it again"
            )
        if not body:
            console.print(f"[bold]{name}[/] unchanged")
            return
        if dry_run:
            console.print(f"would update [bold]{name}[/]: {', '.join(body)}")
            return
        view = client.post(f"/v1/components/{name}/update", body)
    if s.structured:
        print_json(view)
    else:
        op_id = (view.get("operation") or {}).get("id")
        console.print(
            f"[green]✓[/] updating [bold]{name}[/] ({', '.join(body)}); deployment {op_id}; "
            f"watch it with: {program()} deployments watch {op_id}"
        )
