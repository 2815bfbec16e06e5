"""``pilothouse dev``, ``demo`` and ``invoke``: the local control plane, run in this process.

Each imports its machinery only when run, so the rest of the CLI stays quick to start.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pilothouse.cli.files import InputError, load_mapping

Host = Annotated[str, typer.Option("--host", help="address to listen on")]
Port = Annotated[int, typer.Option("--port", help="port to listen on", min=0, max=65535)]
DataDir = Annotated[Path, typer.Option("--data-dir", help="where the local store, queue and logs live")]
ProjectDir = Annotated[
    Path, typer.Option("--project-dir", help="the project (examples/, functions/); default: .")
]


def dev(
    host: Host = "127.0.0.1",
    port: Port = 8080,
    data_dir: DataDir = Path(".pilothouse"),
    project_dir: ProjectDir = Path("."),
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="serve HTTPS (TLS 1.3+) with this PEM certificate chain")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="the PEM private key of --tls-cert")
    ] = None,
    tls_self_signed: Annotated[
        bool,
        typer.Option("--tls-self-signed", help="serve HTTPS with a certificate made for development"),
    ] = False,
) -> None:
    """Run the local control plane (gateway, worker, scheduler) until Ctrl-C."""
    from pilothouse.embedded.dev import run_dev
    from pilothouse.embedded.tls import TlsFiles, self_signed

    tls = None
    if tls_self_signed:
        if tls_cert or tls_key:
            raise typer.BadParameter("--tls-self-signed makes its own certificate: no --tls-cert/--tls-key")
        tls = self_signed(data_dir.resolve() / "tls", host)
        typer.echo(f"TLS: self-signed certificate {tls.cert} (clients: --ca-file {tls.cert})", err=True)
    elif tls_cert or tls_key:
        if not (tls_cert and tls_key):
            raise typer.BadParameter("give both --tls-cert and --tls-key")
        tls = TlsFiles(tls_cert.resolve(), tls_key.resolve())
        try:
            tls.check()
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    run_dev(host=host, port=port, data_dir=data_dir, project_dir=project_dir.resolve(), tls=tls)


def demo(
    host: Host = "127.0.0.1",
    port: Port = 8080,
    data_dir: DataDir = Path(".pilothouse"),
    project_dir: ProjectDir = Path("."),
) -> None:
    """Start the local control plane, deploy the examples, and keep serving until Ctrl-C."""
    from pilothouse.cli.demo import run_demo

    code = run_demo(host=host, port=port, data_dir=data_dir, project_dir=project_dir.resolve())
    if code:
        raise typer.Exit(code)


def invoke(
    function: Annotated[str, typer.Argument(help="the function's name (a directory under functions/)")],
    event: Annotated[
        str | None, typer.Option("--event", "-e", help="the event, YAML or JSON; - reads stdin")
    ] = None,
    project_dir: ProjectDir = Path("."),
) -> None:
    """Invoke one of the project's functions locally with an event and print its JSON result."""
    try:
        payload = load_mapping(event, "an event") if event else {}
    except InputError as exc:
        raise typer.BadParameter(str(exc), param_hint="--event") from None
    from pilothouse.embedded.functions import invoke as invoke_function

    result = invoke_function(project_dir.resolve(), function, payload)
    print(json.dumps(result, indent=2, default=str))


def migrate(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="the control plane's data directory (embedded default)")
    ] = None,
) -> None:
    """Bring the store to this release's layout (idempotent; resumable).

    Versioned (see pilothouse.services.migrations). Needs direct access to the store: the data
    directory, or the cloud table through PILOTHOUSE_STORE and its credentials. Prints what it
    moved as JSON."""
    import os

    from pilothouse.services.migrations import migrate as run
    from pilothouse.settings import get_settings
    from pilothouse.wiring import get_services

    if data_dir:
        os.environ["PILOTHOUSE_DATA_DIR"] = str(data_dir)
    services = get_services(get_settings())
    typer.echo(json.dumps(run(services.store), sort_keys=True))
