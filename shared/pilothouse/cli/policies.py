"""``pilothouse policies``: deployment policies in CEL, and their dry run.

# prod-canary.yaml
name: prod-canary
match: {operations: [update_component, deploy_component], environments: [production]}
rule: request.strategy.canary && request.strategy.analysis && request.strategy.approval
message: production deploys need a canary with analysis and an approval

pilothouse policies test -f prod-canary.yaml --since 2026-12-01   # what it would have denied
pilothouse policies create -f prod-canary.yaml
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from pilothouse.cli.context import OutputOption, reports_errors, settings
from pilothouse.cli.deployment_text import cell, new_table
from pilothouse.cli.files import InputError, load_document, load_mapping
from pilothouse.cli.render import out, print_json

app = typer.Typer(
    rich_markup_mode=None, help="Deployment policies (CEL rules checked before a change is accepted)."
)

PolicyFile = Annotated[str, typer.Option("--file", "-f", help="the policy, YAML or JSON (- reads stdin)")]


def _show(view: Any, structured: bool) -> None:
    if structured:
        print_json(view)
        return
    out().print(
        f"[bold]{escape(view['name'])}[/] v{view.get('version', '-')} "
        f"({view.get('mode')}, {view.get('type')}): {escape(view.get('rule', '(built in)'))}"
    )


@app.command("create")
@reports_errors
def create(ctx: typer.Context, file: PolicyFile, output: OutputOption = None) -> None:
    """Store a new policy (enforced at once unless its mode is audit)."""
    s = settings(ctx, output)
    with s.client() as client:
        _show(client.post("/v1/policies", load_mapping(file, "a policy")), s.structured)


@app.command("list")
@reports_errors
def list_(ctx: typer.Context, output: OutputOption = None) -> None:
    """The policies, and the built-in freeze policy."""
    s = settings(ctx, output)
    with s.client() as client:
        items = client.get("/v1/policies")["items"]
    if s.structured:
        print_json({"items": items})
        return
    table = new_table("NAME", "VERSION", "TYPE", "MODE", "MATCH", "RULE")
    for p in items:
        table.add_row(
            escape(p["name"]),
            cell(p.get("version")),
            cell(p.get("type")),
            cell(p.get("mode")),
            cell(p.get("match")),
            escape(p.get("rule") or p.get("description", "")),
        )
    out().print(table)


@app.command("get")
@reports_errors
def get(ctx: typer.Context, name: str, output: OutputOption = None) -> None:
    """One policy with its version history."""
    s = settings(ctx, output)
    with s.client() as client:
        view = client.get(f"/v1/policies/{name}")
    if s.structured:
        print_json(view)
        return
    _show(view, False)
    for h in view.get("history", []):
        out().print(f"  v{h['version']} {h['updated_at']} by {escape(h['updated_by'])}")


@app.command("update")
@reports_errors
def update(
    ctx: typer.Context,
    name: str,
    file: PolicyFile,
    expected_version: Annotated[
        int | None, typer.Option("--expected-version", help="refuse if the policy is not at this version")
    ] = None,
    output: OutputOption = None,
) -> None:
    """Replace a policy's definition (a new version; the old ones are kept)."""
    body = {k: v for k, v in load_mapping(file, "a policy").items() if k != "name"}
    if expected_version is not None:
        body["expected_version"] = expected_version
    s = settings(ctx, output)
    with s.client() as client:
        _show(client.request("PUT", f"/v1/policies/{name}", json=body), s.structured)


@app.command("delete")
@reports_errors
def delete(ctx: typer.Context, name: str) -> None:
    """Delete a policy (its history is kept)."""
    with settings(ctx).client() as client:
        client.delete(f"/v1/policies/{name}")
    out().print(f"[green]✓[/] deleted policy [bold]{escape(name)}[/]")


@app.command("test")
@reports_errors
def test(
    ctx: typer.Context,
    file: Annotated[
        str | None, typer.Option("--file", "-f", help="a policy not stored yet (else: the stored ones)")
    ] = None,
    request: Annotated[
        list[str] | None,
        typer.Option("--request", "-r", help="a file of hypothetical request facts (repeatable)"),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="also replay the audited requests since this UTC day")
    ] = None,
    output: OutputOption = None,
) -> None:
    """Dry run: which past or hypothetical requests the policy would deny (exit 1 if any)."""
    requests: list[Any] = []
    for source in request or []:
        doc = load_document(source)
        requests.extend(doc if isinstance(doc, list) else [doc])
    if not requests and since is None:
        raise InputError("give --request FILE or --since DAY (or both)")
    body: dict[str, Any] = {"requests": requests, "since": since}
    if file:
        body["policy"] = load_mapping(file, "a policy")
    s = settings(ctx, output)
    with s.client() as client:
        report = client.post("/v1/policies/test", body)
    if s.structured:
        print_json(report)
    else:
        for r in report["results"]:
            verdict = (
                f"[red]denied by {', '.join(r['denied_by'])}[/]" if r["denied_by"] else "[green]allowed[/]"
            )
            out().print(f"{escape(str(r['source']))} {escape(str(r.get('operation')))}: {verdict}")
        out().print(f"{report['denied']} of {report['evaluated']} request(s) denied")
    if report["denied"]:
        raise typer.Exit(1)
