"""``components logs NAME [-f] [--replica N]``: the output of a component's local replicas.

The local provider appends each replica's stdout and stderr to a file under the data dir and records
its path in the placement (``placement.details.replicas[].log``), which the API shows. The CLI reads
those files itself, so this works where the control plane runs on the same machine (``pilothouse
dev``, ``make run``); elsewhere it says that the files are on the server's machine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from pilothouse.cli.context import reports_errors, settings
from pilothouse.cli.files import InputError

#: seconds between reads with --follow
FOLLOW_SECONDS = 0.5


def replicas_of(view: dict[str, Any], deployment: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every replica, numbered as ``components get`` shows them (stable revision first)."""
    from pilothouse.cli.component_tree import revisions_of

    return [r for rev in revisions_of(view, deployment) for r in rev["replicas"]]


def tail_lines(path: Path, lines: int) -> tuple[list[str], int]:
    """The last ``lines`` lines of ``path`` and its size (where following goes on from)."""
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        start = max(0, size - 64 * 1024 * max(1, lines // 200 + 1))
        f.seek(start)
        data = f.read(size - start)
    text = data.decode("utf-8", "replace").splitlines()
    if start > 0 and text:
        text = text[1:]  # the first line read may be cut
    return text[-lines:] if lines else [], size


def follow_files(
    files: list[tuple[str, Path, int]],
    emit: Callable[[str, str], None],
    *,
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
    max_polls: int | None = None,
) -> None:
    """Print what each file gains from its offset on (a truncated file starts over), until Ctrl-C."""
    offsets = {str(path): offset for _prefix, path, offset in files}
    pending = {str(path): b"" for _prefix, path, _offset in files}
    polls = 0
    try:
        while max_polls is None or polls < max_polls:
            for prefix, path, _ in files:
                key = str(path)
                try:
                    size = path.stat().st_size
                except OSError:
                    continue
                if size < offsets[key]:
                    offsets[key], pending[key] = 0, b""
                if size == offsets[key]:
                    continue
                with path.open("rb") as f:
                    f.seek(offsets[key])
                    chunk = f.read(size - offsets[key])
                offsets[key] += len(chunk)
                *complete, pending[key] = (pending[key] + chunk).split(b"\n")
                for line in complete:
                    emit(prefix, line.decode("utf-8", "replace"))
            polls += 1
            sleep(interval)
    except KeyboardInterrupt:
        return


@reports_errors
def logs(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="the component's name")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="keep printing new output until Ctrl-C")
    ] = False,
    replica: Annotated[
        int | None, typer.Option("--replica", "-r", min=0, help="only this replica (its number in `get`)")
    ] = None,
    tail: Annotated[int, typer.Option("--tail", min=0, help="lines of each log to show first")] = 50,
) -> None:
    """Print the output (stdout and stderr) of a component's local replicas."""
    s = settings(ctx)
    with s.client() as client:
        view = client.get(f"/v1/components/{name}")
        latest = (client.get("/v1/deployments", component=name, limit=1).get("items") or [None])[0]
        deployment = client.get(f"/v1/deployments/{latest['id']}") if latest else None
    replicas = replicas_of(view, deployment)
    if not replicas:
        raise InputError(f"{name} has no replicas running (state {view.get('state')})")
    numbered = list(enumerate(replicas))
    if replica is not None:
        if replica >= len(replicas):
            raise InputError(f"--replica {replica}: {name} has replicas 0 to {len(replicas) - 1}")
        numbered = [numbered[replica]]
    files: list[tuple[str, Path, int]] = []
    for i, r in numbered:
        path = Path(str(r.get("log") or ""))
        if not r.get("log") or not path.is_file():
            raise InputError(
                f"the log of replica {i} of {name} ({r.get('log') or 'not recorded'}) is not on this "
                "machine: "
                "logs are read where the local control plane runs"
            )
        prefix = f"[replica {i} pid {r.get('pid')}] " if len(numbered) > 1 else ""
        lines, size = tail_lines(path, tail)
        for line in lines:
            print(f"{prefix}{line}")
        files.append((prefix, path, size))
    if follow:
        follow_files(
            files, lambda prefix, line: print(f"{prefix}{line}", flush=True), interval=FOLLOW_SECONDS
        )
