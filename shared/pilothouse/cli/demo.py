"""``pilothouse demo`` (what ``make run`` runs): the local control plane with the examples deployed.

:func:`run_demo` starts a :class:`~pilothouse.embedded.dev.DevServer`, then :func:`populate` drives it
over HTTP exactly as a user would with the CLI (register, deploy, scale, update, each waited for),
:func:`summary` prints where everything is, and :func:`block_until_interrupt` keeps it all serving
until Ctrl-C. A second run finds its components from the first and leaves what is Running alone.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape

from pilothouse.cli.client import ApiError, Client
from pilothouse.cli.render import components_table, print_problem
from pilothouse.cli.wait import TRANSITIONAL, report, wait_for

SCALE_TO = ("greeter", 3)
UPDATE_TO = ("counter", "2.0.0")


@dataclass
class DemoRun:
    """What :func:`populate` did: the components it found and the steps that went wrong."""

    names: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class Pace:
    """How long to wait, and how often to look (tests make it quick)."""

    timeout: float = 180.0
    interval: float = 0.3


def example_specs(project_dir: Path) -> list[dict[str, Any]]:
    """The component specs of ``examples/*/component.yaml``, in name order."""
    specs = []
    for path in sorted(Path(project_dir).glob("examples/*/component.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(spec, dict) and spec.get("name"):
            specs.append(spec)
    return specs


def _path(name: str, suffix: str = "") -> str:
    return f"/v1/components/{name}{suffix}"


def _register(client: Client, spec: dict[str, Any], console: Console) -> None:
    try:
        client.post("/v1/components", spec)
        console.print(f"  registered [bold]{escape(spec['name'])}[/]")
    except ApiError as exc:
        if exc.status != 409:
            raise
        console.print(f"  [dim]{escape(spec['name'])} is registered already[/]")


def _run(
    client: Client,
    console: Console,
    run: DemoRun,
    pace: Pace,
    name: str,
    command: str,
    body: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Send one command and wait for it; None (and a noted problem) if it failed."""
    try:
        view = client.post(_path(name, f"/{command}"), body or {})
    except ApiError as exc:
        print_problem(exc.status, exc.problem, console)
        run.problems.append(f"{command} {name}: {exc}")
        return None
    return _follow(client, console, run, pace, view, command)


def _follow(
    client: Client, console: Console, run: DemoRun, pace: Pace, view: dict[str, Any], command: str
) -> dict[str, Any] | None:
    result = wait_for(client, view, command, console=console, timeout=pace.timeout, interval=pace.interval)
    report(result, command, console)
    if not result.ok:
        run.problems.append(f"{command} {view['name']}: {result.reason}")
        return None
    return result.view


def _bring_up(client: Client, console: Console, run: DemoRun, pace: Pace, spec: dict[str, Any]) -> None:
    """Get one component Running, whatever state an earlier run left it in."""
    name = spec["name"]
    view = client.get(_path(name))
    state = view["state"]
    if state == "Running":
        console.print(
            f"  [dim]{escape(name)} is Running already (version {view.get('version')}); left as is[/]"
        )
        return
    if state in TRANSITIONAL:
        command = (view.get("operation") or {}).get("command", "deploy")
        console.print(f"  {escape(name)} is {state} from before; waiting for it")
        _follow(client, console, run, pace, view, command)
        return
    if state == "Stopped":
        console.print(f"  {escape(name)} was Stopped; registering it afresh")
        client.delete(_path(name))
        _register(client, spec, console)
        state = "Registered"
    command = "retry" if state == "Failed" else "deploy"
    console.print(f"  {command} [bold]{escape(name)}[/] …")
    _run(client, console, run, pace, name, command)


def populate(client: Client, console: Console, project_dir: Path, pace: Pace | None = None) -> DemoRun:
    """Register and deploy the examples, scale greeter to 3, roll counter to 2.0.0 as a canary, then
    show a bad version rolled back automatically."""
    pace = pace or Pace()
    run = DemoRun()
    specs = example_specs(project_dir)
    if not specs:
        run.problems.append(f"no examples/*/component.yaml under {project_dir}")
        console.print(f"[red]no examples/*/component.yaml under {escape(str(project_dir))}[/]")
        return run
    run.names = [s["name"] for s in specs]
    console.print(f"[bold]1.[/] registering {', '.join(run.names)}")
    for spec in specs:
        _register(client, spec, console)
    console.print("[bold]2.[/] deploying")
    for spec in specs:
        _bring_up(client, console, run, pace, spec)

    name, replicas = SCALE_TO
    if name in run.names:
        view = client.get(_path(name))
        if view["state"] != "Running":
            console.print(f"[bold]3.[/] [dim]not scaling {name}: it is {view['state']}[/]")
        elif view.get("replicas") == replicas:
            console.print(f"[bold]3.[/] [dim]{name} has {replicas} replicas already[/]")
        elif _scaled_before(client, name):
            console.print(
                f"[bold]3.[/] [dim]{name} was scaled in an earlier run; left at {view.get('replicas')} "
                "replica(s)[/]"
            )
        else:
            console.print(f"[bold]3.[/] scaling {name} to {replicas} replicas")
            _run(client, console, run, pace, name, "scale", {"replicas": replicas})

    name, version = UPDATE_TO
    if name in run.names:
        view = client.get(_path(name))
        earlier = _deployment_of(client, name, version)
        if view["state"] != "Running":
            console.print(f"[bold]4.[/] [dim]not updating {name}: it is {view['state']}[/]")
        elif view.get("version") == version:
            console.print(f"[bold]4.[/] [dim]{name} is at version {version} already[/]")
        elif earlier is not None:
            console.print(
                f"[bold]4.[/] [dim]{name} was updated to {version} in an earlier run (deployment "
                f"{escape(earlier)}); left at {escape(str(view.get('version')))}[/]"
            )
        else:
            console.print(
                f"[bold]4.[/] canary of {name} {version}: 25 % of the traffic, bake, analysis, then 100 %"
            )
            with Traffic(view.get("url")):
                _run(client, console, run, pace, name, "update", {"version": version, "strategy": CANARY})
            _show_deployment(client, console, name)
        _bad_version(client, console, run, pace, name)
    return run


#: the demo's canary: a quarter of the traffic for a few seconds, judged on error rate
CANARY = {
    "type": "canary",
    "percentage": 25,
    "interval_seconds": 3,
    "analysis": {
        "measurements": 2,
        "interval_seconds": 1,
        "window_seconds": 4,
        "max_error_rate": 0.05,
        "min_requests": 5,
        "no_data": "pass",
    },
}
BAD_VERSIONS = ("2.2.0-flaky", "2.1.0-unhealthy")


def _bad_version(client: Client, console: Console, run: DemoRun, pace: Pace, name: str) -> None:
    """Step 5: a version that fails its analysis is rolled back automatically; the old one keeps serving."""
    view = client.get(_path(name))
    versions = (view["spec"].get("target") or {}).get("versions") or {}
    bad = next((v for v in BAD_VERSIONS if v in versions), None)
    if view["state"] != "Running" or bad is None:
        return
    shown = _rolled_back_before(client, name, bad)
    if shown is not None:
        console.print(
            f"[bold]5.[/] [dim]{escape(name)} {escape(bad)} was rolled back in an earlier run "
            f"(deployment {escape(shown)}); not again[/]"
        )
        return
    console.print(
        f"[bold]5.[/] canary of a bad version, {name} {bad}: it should be rolled back automatically"
    )
    try:
        started = client.post(_path(name, "/update"), {"version": bad, "strategy": CANARY})
    except ApiError as exc:
        print_problem(exc.status, exc.problem, console)
        run.problems.append(f"update {name} {bad}: {exc}")
        return
    with Traffic(view.get("url")):
        result = wait_for(
            client, started, "update", console=console, timeout=pace.timeout, interval=pace.interval
        )
    if (
        result.view
        and result.view.get("state") == "Running"
        and result.view.get("version") == view["version"]
    ):
        console.print(f"  [green]rolled back: {escape(name)} still serves {escape(str(view['version']))}[/]")
        _show_deployment(client, console, name)
    else:
        run.problems.append(f"the bad version {bad} of {name} was not rolled back as expected")


def _deployment_of(client: Client, name: str, version: str, status: str | None = None) -> str | None:
    """The id of an earlier deployment of ``name`` to ``version`` (with ``status``), if there is one:
    what a second run does not do again."""
    items, _ = client.collect("/v1/deployments", {"component": name, "limit": 100}, follow=True)
    return next(
        (
            d["id"]
            for d in items
            if d.get("to_version") == version
            and d.get("command") == "update"
            and status in (None, d.get("status"))
        ),
        None,
    )


def _rolled_back_before(client: Client, name: str, version: str) -> str | None:
    return _deployment_of(client, name, version, "rolled_back")


def _scaled_before(client: Client, name: str) -> bool:
    """Was ``name`` ever scaled (by an earlier run, or by its user since)?"""
    events, _ = client.collect(_path(name, "/events"), {"limit": 100}, follow=True)
    return any(e.get("type") == "scale.succeeded" for e in events)


def _show_deployment(client: Client, console: Console, name: str) -> None:
    items = client.get("/v1/deployments", component=name, limit=1).get("items") or []
    if not items:
        return
    dep = items[0]
    verdicts = ", ".join(
        f"{m['verdict']}" + (f" ({'; '.join(m['reasons'])})" if m.get("reasons") else "")
        for m in dep.get("analysis", [])
    )
    console.print(
        f"  deployment {escape(dep['id'])}: [bold]{escape(dep['status'])}[/]"
        + (f" — analysis: {escape(verdicts)}" if verdicts else "")
    )


class Traffic:
    """Requests to a URL from a background thread while a canary bakes (so its analysis has data)."""

    def __init__(self, url: str | None, *, rate: float = 40.0, limit: int = 4000) -> None:
        import threading

        self.url, self.rate, self.limit = url, rate, limit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import httpx

        sent = 0
        with httpx.Client(timeout=2.0) as http:
            while self.url and not self._stop.wait(1 / self.rate) and sent < self.limit:
                with contextlib.suppress(httpx.HTTPError):
                    http.get(self.url)
                sent += 1

    def __enter__(self) -> Traffic:
        if self.url:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(3)


def cli_command(project_dir: Path) -> str:
    """How to run the CLI from the project dir: the ``./pilothouse`` wrapper when it is there."""
    wrapper = Path(project_dir) / "pilothouse"
    if wrapper.is_file() and Path.cwd().resolve() == Path(project_dir).resolve():
        return "./pilothouse"
    import sys

    return str(Path(sys.argv[0]).resolve()) if sys.argv and sys.argv[0] else "pilothouse"


def summary(
    client: Client, console: Console, api_url: str, admin_key: str, command: str = "./pilothouse"
) -> None:
    """The components as they are now, and how to talk to the control plane."""
    items, _ = client.collect("/v1/components", {"limit": 100}, follow=True)
    console.print()
    console.print(components_table(items))
    console.print()
    console.print(f"[bold]Dashboard[/]  {escape(api_url)}/  (sign in with the admin key below)")
    console.print(f"[bold]API[/]        {escape(api_url)}")
    console.print(f"[bold]Admin key[/]  [yellow]{escape(admin_key)}[/]")
    console.print("[bold]Try[/]")
    console.print(
        f"  curl -s -H 'Authorization: Bearer {escape(admin_key)}' {escape(api_url)}/v1/components",
        soft_wrap=True,
    )
    console.print(
        f"  PILOTHOUSE_URL={escape(api_url)} PILOTHOUSE_API_KEY={escape(admin_key)} "
        f"{escape(command)} components list",
        soft_wrap=True,
    )
    greeter = next((c for c in items if c.get("name") == "greeter" and c.get("url")), None)
    if greeter:
        console.print(f"  curl -s {escape(greeter['url'])}/", soft_wrap=True)


def _stderr() -> Console:
    from pilothouse.cli.render import err

    return err()


def block_until_interrupt() -> None:
    from pilothouse.embedded.dev import wait_for_interrupt

    wait_for_interrupt()


DEMO_KEY_FILE = "demo-key"


def _demo_key(server: Any, data_dir: Path) -> str:
    """One admin key for the demo, kept in ``<data-dir>/demo-key`` (mode 0600) and reused by later
    runs: the key the first start made, or (a data dir from ``pilothouse dev``, or a key that was
    revoked since) one made for the demo then."""
    path = Path(data_dir) / DEMO_KEY_FILE
    if server.admin_key:
        _keep(path, server.admin_key)
        return server.admin_key
    if path.is_file():
        kept = path.read_text(encoding="utf-8").strip()
        if kept and _works(server.url, kept):
            return kept
    from pilothouse.services.keys import create_key

    secret, _record = create_key(server.services, name="demo", role="admin", created_by="demo")
    _keep(path, secret)
    return secret


def _keep(path: Path, secret: str) -> None:
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secret + "\n")
    os.chmod(path, 0o600)


def _works(url: str, key: str) -> bool:
    """Does the control plane still take ``key`` as an admin (a revoked or demoted key does not)?"""
    with Client(url, key) as client:
        try:
            client.get("/v1/api-keys", limit=1)
        except ApiError:
            return False
    return True


def _platform(client: Client, console: Console, project_dir: Path, server: Any) -> list[str]:
    """Step 6-8: the readme-to-cicd platform (:mod:`pilothouse.cli.demo_platform`), when shipped."""
    from pilothouse.cli.demo_platform import EXAMPLE, run_platform

    if not (project_dir / EXAMPLE / "system.yaml").is_file():
        return []
    return run_platform(client, console, project_dir, server.services.blobs.get)


def run_demo(
    host: str, port: int, data_dir: Path, project_dir: Path, *, console: Console | None = None
) -> int:
    """Start, populate, show, serve until Ctrl-C, stop. 0 if every step went well, 1 otherwise."""
    from pilothouse.embedded.dev import DevServer

    if console is None:
        from pilothouse.cli.render import out

        console = out()  # as wide as the output when it is not a terminal: URLs are never wrapped
    project_dir = Path(project_dir).resolve()
    console.print(f"starting the local control plane on {host}:{port} (data in {data_dir}) …")
    server = DevServer(host, port, Path(data_dir), project_dir, console=_stderr())
    server.start()
    try:
        key = _demo_key(server, Path(data_dir))
        console.print(f"[green]control plane up at {escape(server.url)}[/]")
        with Client(server.url, key) as client:
            try:
                run = populate(client, console, project_dir)
                from pilothouse.cli.demo_autoscale import show_autoscaler

                show_autoscaler(client, console, run, cli_command(project_dir))
                from pilothouse.cli.demo_health import self_healing

                self_healing(server, client, console, run.problems)
                run.problems += _platform(client, console, project_dir, server)
                summary(client, console, server.url, key, cli_command(project_dir))
            except ApiError as exc:
                print_problem(exc.status, exc.problem, console)
                run = DemoRun(problems=[str(exc)])
        if run.problems:
            console.print(f"[yellow]{len(run.problems)} step(s) did not go as planned:[/]")
            for p in run.problems:
                console.print(f"  [yellow]•[/] {escape(p)}")
        console.print("\n[bold]Serving; Ctrl-C stops.[/]")
        block_until_interrupt()
    finally:
        console.print("stopping …")
        server.stop()
        console.print("stopped")
    return 1 if run.problems else 0
