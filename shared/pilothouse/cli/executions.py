"""``pilothouse executions …`` (start, describe, list, history, stop, redrive) and ``pilothouse tasks …``
(answer a ``.waitForTaskToken`` task: success, failure, heartbeat), over the API.

``--wait`` polls the execution every :data:`POLL_SECONDS` until it is no longer RUNNING, showing
where it stands; the exit code is 0 only if it SUCCEEDED.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from pilothouse.cli.client import Client
from pilothouse.cli.context import (
    AllPages,
    Cursor,
    IdemKey,
    OutputOption,
    PageSize,
    reports_errors,
    settings,
)
from pilothouse.cli.files import InputError, load_document
from pilothouse.cli.prog import program
from pilothouse.cli.render import err, out, print_json, print_page
from pilothouse.cli.workflow_render import (
    execution_detail,
    executions_table,
    history_table,
    position_text,
    short,
    status_text,
    waiting_text,
)
from pilothouse.engine.model import ABORTED, FAILED, RUNNING, SUCCEEDED, TIMED_OUT

POLL_SECONDS = 0.3
#: what ``--status`` filters by: the engine's execution statuses (Step Functions' own)
STATUSES = (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED)

app = typer.Typer(help="Start and follow workflow executions.", no_args_is_help=True, rich_markup_mode=None)
tasks = typer.Typer(
    help="Answer tasks waiting for a callback (.waitForTaskToken).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

Workflow = Annotated[str, typer.Argument(help="the workflow's name")]
Execution = Annotated[str, typer.Argument(help="the execution's name")]
Wait = Annotated[
    bool, typer.Option("--wait", "-w", help="follow the execution until it ends; exit 1 unless it SUCCEEDED")
]
Timeout = Annotated[
    float | None, typer.Option("--timeout", min=0, help="seconds --wait waits at most (default: no limit)")
]
Token = Annotated[str, typer.Argument(help="the task token (from the task's payload, $$.Task.Token)")]


def _path(workflow: str, name: str | None = None, suffix: str = "") -> str:
    base = f"/v1/workflows/{workflow}/executions"
    return f"{base}/{name}{suffix}" if name else base


def _json_value(text: str, option: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InputError(f"{option} is not valid JSON: {exc}") from None


def _wire(value: Any) -> Any:
    """A value as the API takes it: text is read as JSON there, so a string goes as JSON text."""
    return json.dumps(value) if isinstance(value, str) else value


def _one_value(file: str | None, text: str | None, file_opt: str, json_opt: str, default: Any) -> Any:
    if file is not None and text is not None:
        raise InputError(f"give {file_opt} or {json_opt}, not both")
    if text is not None:
        return _json_value(text, json_opt)
    if file is not None:
        return load_document(file)
    return default


# -- following an execution ---------------------------------------------------------------------------


def follow(
    client: Client,
    view: dict[str, Any],
    *,
    console: Console,
    timeout: float | None = None,
    interval: float | None = None,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
    answered_by: Callable[[dict[str, Any]], str | None] | None = None,
) -> tuple[dict[str, Any], bool]:
    """Poll the execution until it is no longer RUNNING: (its last view, whether time ran out).

    A task waiting for a callback is shown with how to answer it, unless ``answered_by`` says what
    answers it by itself (a line to print instead; None: the user answers it).
    """
    interval = POLL_SECONDS if interval is None else interval
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    deadline = None if timeout is None else clock() + timeout
    path = _path(view["workflow"], view["name"])
    shown_at: list | None = None
    shown_waiting: set[str] = set()
    with console.status(_status(view), spinner="dots") as status:
        while True:
            positions = [(p.get("run"), p.get("state"), p.get("phase")) for p in view.get("positions") or []]
            if view.get("status") == RUNNING and positions and positions != shown_at:
                shown_at = positions
                where = ", ".join(position_text(p) for p in view["positions"])
                console.print(f"  [dim]→[/] {where}", soft_wrap=True)
            for t in view.get("waiting_tasks") or []:
                if t.get("callback") and t.get("task_id") not in shown_waiting:
                    shown_waiting.add(t.get("task_id"))
                    instead = answered_by(t) if answered_by else None
                    if instead:
                        console.print(f"  [yellow]⏸[/] {instead}", soft_wrap=True)
                        continue
                    console.print(
                        f"  [yellow]⏸[/] {waiting_text(t)}; answer with: {program()} tasks success "
                        "TOKEN (or failure)",
                        soft_wrap=True,
                    )
            if view.get("status") != RUNNING:
                return view, False
            if deadline is not None and clock() >= deadline:
                return view, True
            sleep(interval)
            view = client.get(path)
            status.update(_status(view))


def _status(view: dict[str, Any]) -> str:
    return f"{escape(str(view.get('name')))}: {status_text(view.get('status'))}"


def _finish(client: Client, view: dict[str, Any], *, as_json: bool, timeout: float | None) -> None:
    """Follow ``view`` to its end, report, and exit 1 unless it SUCCEEDED."""
    console = err() if as_json else out()
    name = escape(str(view.get("name")))
    try:
        view, timed_out = follow(client, view, console=console, timeout=timeout)
    except KeyboardInterrupt:
        err().print(
            f"stopped waiting; execution {name} goes on "
            f"(see: {program()} executions describe {escape(str(view.get('workflow')))} {name})"
        )
        raise typer.Exit(130) from None
    if as_json:
        print_json(view)
    status = view.get("status")
    if timed_out:
        err().print(
            f"[yellow]⏱[/] timed out after {timeout:g}s; {name} is still {status_text(status)} "
            "(the execution goes on)"
        )
        raise typer.Exit(1)
    if status == SUCCEEDED:
        console.print(f"[green]✓[/] execution {name} {status_text(status)}")
        if not as_json:
            console.print(f"  output: {escape(short(view.get('output'), 2000))}", soft_wrap=True)
        return
    report = err()
    report.print(f"[bold red]✗[/] execution {name} {status_text(status)}")
    if view.get("error") or view.get("cause"):
        report.print(f"  error: {escape(str(view.get('error') or '-'))}", soft_wrap=True)
        report.print(f"  cause: {escape(str(view.get('cause') or '-'))}", soft_wrap=True)
    raise typer.Exit(1)


def _accepted(view: dict[str, Any], verb: str, as_json: bool) -> None:
    if as_json:
        print_json(view)
        return
    wf, name = escape(str(view.get("workflow"))), escape(str(view.get("name")))
    out().print(
        f"[green]✓[/] {verb} execution [bold]{name}[/] of {wf} ({status_text(view.get('status'))}); "
        f"follow with: {program()} executions describe {wf} {name}"
    )


# -- commands ------------------------------------------------------------------------------------------


@app.command()
@reports_errors
def start(
    ctx: typer.Context,
    workflow: Workflow,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="the execution's name (makes the start idempotent)")
    ] = None,
    input_file: Annotated[
        str | None, typer.Option("--input", "-i", help="the input, a JSON or YAML file; - reads stdin")
    ] = None,
    input_json: Annotated[str | None, typer.Option("--input-json", help="the input as JSON text")] = None,
    wait: Wait = False,
    timeout: Timeout = None,
    idempotency_key: IdemKey = None,
    output: OutputOption = None,
    environment: Annotated[
        str | None,
        typer.Option(
            "--environment",
            "-e",
            help="where its HTTP tasks' component://NAME/... lead (NAME, or NAME-ENVIRONMENT)",
        ),
    ] = None,
) -> None:
    """Start an execution of a workflow's latest version."""
    s = settings(ctx, output)
    payload = _one_value(input_file, input_json, "--input", "--input-json", {})
    body: dict[str, Any] = {"input": _wire(payload)}
    if name:
        body["name"] = name
    if environment:
        body["environment"] = environment
    with s.client() as client:
        view = client.post(_path(workflow), body, idempotency_key=idempotency_key)
        if wait:
            _finish(client, view, as_json=s.structured, timeout=timeout)
            return
    _accepted(view, "started", s.structured)


@app.command()
@reports_errors
def describe(ctx: typer.Context, workflow: Workflow, name: Execution, output: OutputOption = None) -> None:
    """Show an execution: status, input, output or error, where it stands, what it waits for."""
    s = settings(ctx, output)
    with s.client() as client:
        view = client.get(_path(workflow, name))
    if s.structured:
        print_json(view)
    else:
        execution_detail(view, out())


@app.command("list")
@reports_errors
def list_(
    ctx: typer.Context,
    workflow: Workflow,
    status: Annotated[
        str | None, typer.Option("--status", help="only this status: " + ", ".join(STATUSES))
    ] = None,
    limit: PageSize = 50,
    cursor: Cursor = None,
    all_pages: AllPages = False,
    output: OutputOption = None,
) -> None:
    """List a workflow's executions."""
    s = settings(ctx, output)
    if status is not None:
        status = status.upper().replace("-", "_")
        if status not in STATUSES:
            raise typer.BadParameter(f"one of {', '.join(STATUSES)}", param_hint="--status")
    params = {"status": status, "limit": limit, "cursor": cursor}
    with s.client() as client:
        items, next_cursor = client.collect(_path(workflow), params, follow=all_pages)
    if s.structured:
        print_page(items, next_cursor)
    else:
        out().print(executions_table(items) if items else "no executions" + (" match" if status else " yet"))
    if next_cursor:
        err().print(f"[dim]more: --cursor {next_cursor} (or --all)[/]")


@app.command()
@reports_errors
def history(
    ctx: typer.Context,
    workflow: Workflow,
    name: Execution,
    reverse: Annotated[bool, typer.Option("--reverse", help="newest first")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="events per page")] = 100,
    cursor: Cursor = None,
    all_pages: AllPages = False,
    output: OutputOption = None,
) -> None:
    """An execution's history events (as Step Functions' GetExecutionHistory has them)."""
    s = settings(ctx, output)
    params: dict[str, Any] = {"limit": limit, "cursor": cursor, "reverse": "true" if reverse else None}
    events: list[dict[str, Any]] = []
    with s.client() as client:
        while True:
            page = client.get(_path(workflow, name, "/history"), **params)
            events.extend(page.get("events", []))
            next_cursor = page.get("next_cursor")
            if not all_pages or not next_cursor:
                break
            params["cursor"] = next_cursor
    if s.structured:
        print_json({"events": events, "next_cursor": next_cursor})
    else:
        out().print(history_table(events) if events else "no events")
    if next_cursor:
        err().print(f"[dim]more: --cursor {next_cursor} (or --all)[/]")


@app.command()
@reports_errors
def stop(
    ctx: typer.Context,
    workflow: Workflow,
    name: Execution,
    error: Annotated[str | None, typer.Option("--error", help="the error name to record")] = None,
    cause: Annotated[str | None, typer.Option("--cause", help="why it was stopped")] = None,
    idempotency_key: IdemKey = None,
    output: OutputOption = None,
) -> None:
    """Stop (abort) a running execution."""
    s = settings(ctx, output)
    body = {k: v for k, v in (("error", error), ("cause", cause)) if v is not None}
    with s.client() as client:
        view = client.post(_path(workflow, name, "/stop"), body, idempotency_key=idempotency_key)
    if s.structured:
        print_json(view)
    else:
        out().print(f"[green]✓[/] execution [bold]{escape(name)}[/] is {status_text(view.get('status'))}")


@app.command()
@reports_errors
def redrive(
    ctx: typer.Context,
    workflow: Workflow,
    name: Execution,
    wait: Wait = False,
    timeout: Timeout = None,
    idempotency_key: IdemKey = None,
    output: OutputOption = None,
) -> None:
    """Run a failed, timed-out or aborted execution again from where it stopped."""
    s = settings(ctx, output)
    with s.client() as client:
        view = client.post(_path(workflow, name, "/redrive"), {}, idempotency_key=idempotency_key)
        if wait:
            _finish(client, view, as_json=s.structured, timeout=timeout)
            return
    _accepted(view, "redrove", s.structured)


# -- task tokens -----------------------------------------------------------------------------------------


def _sent(view: dict[str, Any], what: str, as_json: bool) -> None:
    if as_json:
        print_json(view)
        return
    out().print(
        f"[green]✓[/] {what}; execution [bold]{escape(str(view.get('name')))}[/] of "
        f"{escape(str(view.get('workflow')))} is {status_text(view.get('status'))}"
    )


@tasks.command()
@reports_errors
def success(
    ctx: typer.Context,
    token: Token,
    output_json: Annotated[
        str | None, typer.Option("--output-json", help="the task's output as JSON text")
    ] = None,
    output_file: Annotated[
        str | None,
        typer.Option("--output-file", help="the task's output, a JSON or YAML file; - reads stdin"),
    ] = None,
    idempotency_key: IdemKey = None,
    output: OutputOption = None,
) -> None:
    """Complete a waiting task with an output (SendTaskSuccess; default output {})."""
    s = settings(ctx, output)
    value = _one_value(output_file, output_json, "--output-file", "--output-json", {})
    with s.client() as client:
        view = client.post(
            "/v1/task-tokens/success",
            {"token": token, "output": _wire(value)},
            idempotency_key=idempotency_key,
        )
    _sent(view, "task succeeded", s.structured)


@tasks.command()
@reports_errors
def failure(
    ctx: typer.Context,
    token: Token,
    error: Annotated[
        str | None, typer.Option("--error", help="the error name (default States.TaskFailed)")
    ] = None,
    cause: Annotated[str | None, typer.Option("--cause", help="what went wrong")] = None,
    idempotency_key: IdemKey = None,
    output: OutputOption = None,
) -> None:
    """Fail a waiting task (SendTaskFailure)."""
    s = settings(ctx, output)
    body: dict[str, Any] = {"token": token}
    body.update({k: v for k, v in (("error", error), ("cause", cause)) if v is not None})
    with s.client() as client:
        view = client.post("/v1/task-tokens/failure", body, idempotency_key=idempotency_key)
    _sent(view, "task failed", s.structured)


@tasks.command()
@reports_errors
def heartbeat(
    ctx: typer.Context,
    token: Token,
    idempotency_key: IdemKey = None,
    output: OutputOption = None,
) -> None:
    """Tell a waiting task that its worker is alive (SendTaskHeartbeat)."""
    s = settings(ctx, output)
    with s.client() as client:
        view = client.post("/v1/task-tokens/heartbeat", {"token": token}, idempotency_key=idempotency_key)
    _sent(view, "heartbeat sent", s.structured)
