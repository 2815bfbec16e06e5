"""``pilothouse workflow validate|run``: check and run an ASL definition offline, in this process.

``run`` drives the embedded engine to completion on a virtual clock (Wait states, retry back-offs
and timeouts take no real time). Task states are answered by an AWS Step Functions Local mock file
(``--mocks``/``--test-case``) or, without one, by the project's own functions; a
``.waitForTaskToken`` task then gets its answer from ``--callbacks``.

HTTP tasks (``arn:aws:states:::http:invoke``) send their request for real, through the same
outbound guard as the control plane: ``component://NAME/PATH`` goes to the URL given with
``--component NAME=URL``; a plain URL only to a host of ``PILOTHOUSE_HTTP_TASK_ALLOW_HOSTS``;
never to a link-local or metadata address, and no redirect is followed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from pilothouse.cli.context import OutputOption, reports_errors, settings
from pilothouse.cli.files import InputError, load_document, load_inline_or_file, load_mapping
from pilothouse.cli.render import err, out, print_json
from pilothouse.cli.workflow_render import event_line

app = typer.Typer(
    help="Validate and run workflow (ASL) definitions locally, offline.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

#: the error a task gets when no one can answer it offline
NO_CALLBACK = "Pilothouse.NoCallback"
PROJECT_ERROR = "Pilothouse.ProjectError"


def _diagnose(definition: Any) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """``(errors, warnings)``: errors are what AWS refuses too, warnings what it accepts."""
    from pilothouse.engine import diagnose

    found = diagnose(definition)
    return (
        [{"path": e.path, "message": e.message} for e in found.errors],
        [{"path": w.path, "message": w.message} for w in found.warnings],
    )


def _errors(definition: Any) -> list[dict[str, str]]:
    return _diagnose(definition)[0]


def _http_errors(definition: Any) -> list[dict[str, str]]:
    """The HTTP tasks' literal endpoints, checked as registration checks them (a metadata
    address, a host off the allow-list...)."""
    from pilothouse.services.http_tasks import definition_errors
    from pilothouse.settings import get_settings

    if not isinstance(definition, dict):
        return []
    settings = get_settings()
    return definition_errors(definition, settings.http_task_allow_hosts, settings.outbound_allow_private)


def parse_components(values: list[str] | None) -> dict[str, str]:
    """``--component NAME=URL`` options as ``{NAME: URL}`` (InputError naming a bad one)."""
    found: dict[str, str] = {}
    for value in values or ():
        name, sep, url = value.partition("=")
        if not sep or not name or not url.startswith(("http://", "https://")):
            raise InputError(f"--component {value!r}: give NAME=http(s)://HOST:PORT")
        found[name] = url
    return found


def _print_errors(errors: list[dict[str, str]], console, colour: str = "red") -> None:
    for e in errors:
        console.print(
            f"  [{colour}]•[/] [bold]{escape(e['path'])}[/]: {escape(e['message'])}", soft_wrap=True
        )


@app.command()
@reports_errors
def validate(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="the definition, JSON or YAML; - reads stdin")],
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="also show the warnings (what AWS accepts but is likely a mistake, such as an "
            "unreachable state) and exit 1 when there is any",
        ),
    ] = False,
    output: OutputOption = None,
) -> None:
    """Check a definition offline: every error with its JSON path (exit 1), or "valid".

    Errors are what AWS Step Functions refuses too. What AWS accepts but is likely a mistake (an
    unreachable state, a path-looking value without '.$' ...) is a warning, shown with --strict.
    """
    s = settings(ctx, output)
    errors, warnings = _diagnose(load_document(file))
    failed = bool(errors) or (strict and bool(warnings))
    if s.structured:
        print_json({"valid": not errors, "errors": errors, "warnings": warnings})
    else:
        console = out()
        if errors:
            console.print(f"[bold red]invalid[/]: {len(errors)} error(s)")
            _print_errors(errors, console)
        elif strict and warnings:
            console.print(f"[bold yellow]valid, with warnings[/]: {len(warnings)} warning(s)")
        else:
            console.print("[green]valid[/]")
        if strict and warnings:
            if errors:
                console.print(f"{len(warnings)} warning(s):")
            _print_errors(warnings, console, "yellow")
        elif warnings:
            err().print(f"{len(warnings)} warning(s): --strict shows them")
    if failed:
        raise typer.Exit(1)


# -- answering tasks ---------------------------------------------------------------------------------


def load_callbacks(source: str) -> dict[str, dict[str, Any]]:
    """``{state: {"output": ...}}`` or ``{state: {"error": ..., "cause": ...}}``, checked."""
    doc = load_mapping(source, "the callbacks")
    for state, answer in doc.items():
        if (
            not isinstance(answer, dict)
            or not ({"output", "error"} & set(answer))
            or set(answer) - {"output", "error", "cause"}
        ):
            raise InputError(
                f'callbacks: the answer for state {state!r} must be {{"output": ...}} '
                'or {"error": ..., "cause": ...}'
            )
        if "error" in answer and not isinstance(answer["error"], str):
            raise InputError(f"callbacks: the error for state {state!r} must be a string")
    return doc


class ProjectTasks:
    """Answers Task states with the project's functions, in this process.

    The project is loaded at the first Task (a definition without one needs no project). A
    ``.waitForTaskToken`` task has its function invoked (when it is one) and then waits for the
    answer given for its state in the callbacks; without one, the task fails at once.
    """

    def __init__(
        self,
        project_dir: Path,
        callbacks: dict[str, dict[str, Any]] | None = None,
        *,
        invoker: Any = None,
        components: dict[str, str] | None = None,
        transport: Any = None,
    ):
        self.project_dir = project_dir
        self.callbacks = callbacks
        self._invoker = invoker
        #: ``component://NAME/...`` of HTTP tasks: NAME's URL (``--component NAME=URL``)
        self.components = components or {}
        self._transport = transport
        self._load_error: str | None = None
        self._tokens: dict[str, str] = {}

    def invoker(self) -> Any:
        from pilothouse.engine import TaskFailure

        if self._invoker is None and self._load_error is None:
            from pilothouse.embedded.invoker import LocalInvoker
            from pilothouse.settings import get_settings

            try:
                self._invoker = LocalInvoker.from_project(self.project_dir, get_settings())
            except Exception as exc:
                self._load_error = f"cannot load the functions of the project in {self.project_dir}: {exc}"
        if self._load_error is not None:
            raise TaskFailure(PROJECT_ERROR, self._load_error)
        return self._invoker

    def _call(self, call: Any) -> Any:
        from pilothouse.engine import TaskFailure
        from pilothouse.ports import FunctionError, UnknownFunction, lambda_envelope

        try:
            result = self.invoker().invoke(call.function, call.payload)
        except UnknownFunction as exc:
            raise TaskFailure("Lambda.ResourceNotFoundException", str(exc)) from None
        except FunctionError as exc:
            cause = json.dumps({"errorMessage": exc.message, "errorType": exc.error_type})
            raise TaskFailure(exc.error_type, cause) from None
        return lambda_envelope(result) if call.lambda_envelope else result

    def _http(self, payload: Any) -> Any:
        """An HTTP task, through the outbound guard (:func:`pilothouse.services.http_tasks.send`)."""
        from pilothouse.engine import TaskFailure
        from pilothouse.ports import FunctionError
        from pilothouse.services import http_tasks
        from pilothouse.settings import get_settings

        try:
            return http_tasks.send(
                get_settings(),
                payload,
                lambda endpoint: http_tasks.offline_components(endpoint, self.components),
                transport=self._transport,
            )
        except FunctionError as exc:
            cause = json.dumps({"errorMessage": exc.message, "errorType": exc.error_type})
            raise TaskFailure(exc.error_type, cause) from None

    def __call__(self, resource: str, payload: Any, ctx: Any) -> Any:
        from pilothouse.engine import PENDING, TaskFailure
        from pilothouse.ports import task_call
        from pilothouse.services.http_tasks import is_http_task

        if is_http_task(resource):
            return self._http(payload)
        waits = resource.endswith(".waitForTaskToken")
        if waits and ctx.state_name not in (self.callbacks or {}):
            raise TaskFailure(
                NO_CALLBACK,
                f"state {ctx.state_name!r} waits for a task token ({resource}) and nothing answers it "
                f"offline: give its answer in --callbacks FILE "
                f'({{"{ctx.state_name}": {{"output": ...}}}} or {{"error": ..., "cause": ...}}) '
                "or mock it with --mocks",
            )
        try:
            call = task_call(resource, payload)
        except ValueError as exc:
            if not waits:
                raise TaskFailure("States.TaskFailed", f"{exc}; mock it with --mocks") from None
            call = None  # a service integration that cannot run here: the callback answers it alone
        if call is not None:
            result = self._call(call)
            if not waits:
                return result
        self._tokens[ctx.token or ctx.task_id] = ctx.state_name
        return PENDING

    def answer(self, token: str) -> Any:
        """The callback for a waiting task (``runner.run``'s ``callbacks``)."""
        from pilothouse.engine import PENDING

        state = self._tokens.get(token)
        if state is None:
            return PENDING
        return copy.deepcopy((self.callbacks or {})[state])


def _select_machine(config: dict[str, Any], name: str | None) -> str:
    machines = config.get("StateMachines")
    if not isinstance(machines, dict) or not machines:
        raise InputError("the mock file has no StateMachines")
    if name is not None:
        if name not in machines:
            raise InputError(f"no state machine {name!r} in the mock file; it has: {', '.join(machines)}")
        return name
    if len(machines) > 1:
        raise InputError(
            f"the mock file has several state machines ({', '.join(machines)}): "
            "choose one with --state-machine"
        )
    return next(iter(machines))


# -- the command ---------------------------------------------------------------------------------------


class PlainFiles:
    """The blobs a Distributed Map reads and writes under ``workflow run --s3-dir``: plain files
    (``s3://bucket/key`` is ``DIR/bucket/key``), so items are files you wrote and results files you
    can open. Keys follow the blobs port's rules (no ``..`` segment: nothing outside DIR)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        from pilothouse.blobs.base import check_key

        return self.root.joinpath(*check_key(key).split("/"))

    def get(self, key: str) -> bytes:
        from pilothouse.ports import BlobNotFound

        path = self._path(key)
        if not path.is_file():
            raise BlobNotFound(key)
        return path.read_bytes()

    def put(self, key: str, data: bytes, **_: Any) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def list(
        self, prefix: str = "", *, limit: int = 1000, cursor: str | None = None
    ) -> tuple[list, str | None]:
        import hashlib

        from pilothouse.ports import BlobInfo

        keys = sorted(
            "/".join(p.relative_to(self.root).parts)
            for p in self.root.rglob("*")
            if p.is_file() and "/".join(p.relative_to(self.root).parts).startswith(prefix)
        )
        keys = [k for k in keys if cursor is None or k > cursor]
        page = keys[:limit]
        infos = []
        for k in page:
            path = self._path(k)
            data = path.read_bytes()
            infos.append(
                BlobInfo(
                    k, len(data), hashlib.md5(data, usedforsecurity=False).hexdigest(), path.stat().st_mtime
                )
            )
        return infos, (page[-1] if len(keys) > limit else None)


@app.command()
@reports_errors
def run(
    ctx: typer.Context,
    definition: Annotated[
        str, typer.Option("--definition", "-d", help="the definition, JSON or YAML; - reads stdin")
    ],
    input_file: Annotated[
        str | None,
        typer.Option(
            "--input", "-i", help="the execution input: inline JSON, or a JSON or YAML file; - reads stdin"
        ),
    ] = None,
    mocks: Annotated[
        str | None, typer.Option("--mocks", help="an AWS Step Functions Local mock config (JSON or YAML)")
    ] = None,
    test_case: Annotated[str | None, typer.Option("--test-case", help="the mock test case to run")] = None,
    state_machine: Annotated[
        str | None,
        typer.Option(
            "--state-machine", help="the state machine's name (in the mock file; default: its only one)"
        ),
    ] = None,
    callbacks: Annotated[
        str | None,
        typer.Option(
            "--callbacks", help="answers for .waitForTaskToken tasks: {state: {output} | {error, cause}}"
        ),
    ] = None,
    project_dir: Annotated[
        Path, typer.Option("--project-dir", help="the project whose functions Task states invoke; default: .")
    ] = Path("."),
    name: Annotated[str | None, typer.Option("--name", help="the execution's name")] = None,
    component: Annotated[
        list[str] | None,
        typer.Option(
            "--component",
            "-c",
            help="NAME=URL: where an HTTP task's component://NAME/... goes (repeatable); the request "
            "still passes the outbound guard",
        ),
    ] = None,
    s3_dir: Annotated[
        Path | None,
        typer.Option(
            "--s3-dir",
            help="a directory standing for S3 in Distributed Map states (s3://bucket/key is DIR/bucket/key)",
        ),
    ] = None,
    history: Annotated[
        bool, typer.Option("--history", help="show the history events (stderr; in the JSON with -o json)")
    ] = False,
    fail_on_error: Annotated[
        bool,
        typer.Option("--fail-on-error", help="exit 1 when the execution does not succeed (for CI)"),
    ] = False,
    output: OutputOption = None,
) -> None:
    """Run a definition to completion in memory (Wait states take no time) and print its result as JSON.

    Exit 0 whatever the execution's status (the JSON says it) unless --fail-on-error (then 1 when it
    did not succeed); 2 for an invalid definition or file.
    """
    from pilothouse import engine

    s = settings(ctx, output)
    if definition == "-" and input_file == "-":
        raise InputError("--definition and --input cannot both read stdin")
    document = load_document(definition)
    errors = _errors(document) or _http_errors(document)
    if errors:
        console = err()
        console.print(f"[bold red]invalid definition[/] {escape(definition)}: {len(errors)} error(s)")
        _print_errors(errors, console)
        raise typer.Exit(2)
    payload = load_inline_or_file(input_file) if input_file else {}
    if payload is None:
        payload = {}

    answer_callbacks = None
    if mocks:
        if callbacks:
            raise InputError("--callbacks answers tasks without --mocks; with mocks, mock the state instead")
        if not test_case:
            raise InputError("--mocks needs --test-case NAME")
        config = load_mapping(mocks, "a mock config")
        machine = _select_machine(config, state_machine)
        try:
            invoke = engine.mock_invoker(config, machine, test_case)
        except (ValueError, TypeError) as exc:
            raise InputError(f"{mocks}: {exc}") from None
    else:
        if test_case:
            raise InputError("--test-case needs --mocks FILE")
        machine = state_machine or (Path(definition).stem if definition != "-" else "StateMachine")
        tasks = ProjectTasks(
            project_dir.resolve(),
            load_callbacks(callbacks) if callbacks else None,
            components=parse_components(component),
        )
        invoke, answer_callbacks = tasks, tasks.answer

    blobs = PlainFiles(s3_dir.resolve()) if s3_dir is not None else None
    result = engine.run(
        document,
        payload,
        invoke=invoke,
        callbacks=answer_callbacks,
        execution_name=name,
        state_machine_name=machine,
        blobs=blobs,
    )
    body: dict[str, Any] = {
        "status": result.status,
        "output": result.output if result.status == engine.SUCCEEDED else None,
        "error": result.error,
        "cause": result.cause,
    }
    if history and s.structured:
        body["history"] = result.history
    elif history:
        console = err()
        for event in result.history:
            console.print(event_line(event), soft_wrap=True)
    print_json(body)
    if fail_on_error and result.status != engine.SUCCEEDED:
        raise typer.Exit(1)
