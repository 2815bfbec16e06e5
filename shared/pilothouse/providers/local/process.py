"""Replica processes of the local provider: build, spawn, identify, health-check and stop them.

Each replica is one OS process started in its own session (so its process group id is its pid
and a whole tree can be signalled at once) with stdout and stderr appended to a log file. A
replica is identified across control-plane restarts by its pid *and* an identity token, its
creation time as psutil reports it (``psutil.Process(pid).create_time()``), so a recycled pid is
never mistaken for it (:mod:`pilothouse.providers.local.identity`).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pilothouse.providers.base import ProviderError
from pilothouse.providers.local.identity import process_identity, same_process

if TYPE_CHECKING:
    from pilothouse.providers.local.launch import LaunchSpec

DEFAULT_GRACE_SECONDS = 5.0
LOG_TAIL_LINES = 20
#: the environment variable that tags a replica with its data dir and id (see ``journal``)
TAG_VAR = "PILOTHOUSE_REPLICA"


# -- ports -----------------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def expand(value: str, *, port: int, host: str) -> str:
    return value.replace("{python}", sys.executable).replace("{port}", str(port)).replace("{host}", host)


# -- replicas --------------------------------------------------------------------------------------


@dataclass
class Replica:
    """One running (or once running) process of a release."""

    pid: int
    port: int
    version: str
    revision: str
    log_path: Path
    started_at: float
    identity: str | None
    argv: list[str]
    host: str = "127.0.0.1"
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    adopted: bool = False
    replica_id: str = ""  # its record in the replica journal ("" for one started before journals)
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pgid(self) -> int:
        return self.pid  # start_new_session=True: the replica leads its own process group

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.replica_id,
            "pid": self.pid,
            "pgid": self.pgid,
            "port": self.port,
            "url": self.url,
            "version": self.version,
            "revision": self.revision,
            "log": str(self.log_path),
            "started_at": self.started_at,
            "identity": self.identity,
            "argv": self.argv,
            "grace_seconds": self.grace_seconds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, host: str = "127.0.0.1") -> Replica:
        return cls(
            pid=int(data["pid"]),
            port=int(data["port"]),
            version=str(data.get("version", "")),
            revision=str(data.get("revision", "")),
            log_path=Path(data.get("log") or os.devnull),
            started_at=float(data.get("started_at") or 0.0),
            identity=data.get("identity"),
            argv=list(data.get("argv") or []),
            host=host,
            grace_seconds=float(data.get("grace_seconds", DEFAULT_GRACE_SECONDS)),
            adopted=True,
            replica_id=str(data.get("id") or ""),
        )

    # state

    def exit_code(self) -> int | None:
        """The exit code if the process has ended (-1 when it ended but is not our child)."""
        if self.popen is not None:
            return self.popen.poll()
        return None if self.is_same_process() else -1

    def is_running(self) -> bool:
        return self.exit_code() is None

    def is_same_process(self) -> bool:
        """True if ``pid`` is alive and still the process this replica started as."""
        if self.popen is not None and self.popen.poll() is not None:
            return False
        return same_process(self.pid, self.identity)

    def tail(self, lines: int = LOG_TAIL_LINES) -> list[str]:
        return tail_file(self.log_path, lines)

    # signals

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the replica's process group, only while it is still the same process
        (an ended leader's group may still hold children: those get it too)."""
        if self.popen is None and not self.is_same_process():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, sig)


def tail_file(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of a text file (empty if it can't be read)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except OSError:
        return []
    return data.decode("utf-8", errors="replace").splitlines()[-lines:]


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(value: str) -> str:
    return _SAFE.sub("_", value).strip("._") or "x"


def spawn(
    spec: LaunchSpec,
    *,
    component: str,
    version: str,
    revision: str,
    port: int,
    log_dir: Path,
    now: float,
    host: str = "127.0.0.1",
    replica_id: str = "",
    tag: str | None = None,
) -> Replica:
    """Start one replica listening (we expect) on ``port``. Raises ProviderError if exec fails.

    ``tag`` goes into the replica's environment as ``PILOTHOUSE_REPLICA`` (what finds it again
    after a control-plane crash); ``replica_id`` names its record in the replica journal."""
    argv = [expand(a, port=port, host=host) for a in spec.argv]
    env = {k: expand(v, port=port, host=host) for k, v in spec.env.items()}
    env["PORT"] = str(port)
    env.pop(TAG_VAR, None)  # never pass on a tag this process inherited
    if tag is not None:
        env[TAG_VAR] = tag
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    log_path = log_dir / f"{safe_name(version)}-{port}-{stamp}.log"
    with open(log_path, "ab") as log:
        header = f"# pilothouse local: {component} {version} port={port} argv={json.dumps(argv)}\n"
        log.write(header.encode())
        log.flush()
        try:
            popen = subprocess.Popen(
                argv,
                cwd=spec.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise ProviderError(
                f"cannot start {component} {version}: {exc}", logs=[header.strip(), str(exc)]
            ) from exc
    return Replica(
        pid=popen.pid,
        port=port,
        version=version,
        revision=revision,
        log_path=log_path,
        started_at=now,
        identity=process_identity(popen.pid),
        argv=argv,
        host=host,
        grace_seconds=spec.grace_seconds,
        replica_id=replica_id,
        popen=popen,
    )


# -- health ----------------------------------------------------------------------------------------


def probe(host: str, port: int, path: str, timeout: float = 1.0) -> tuple[bool, str]:
    """One HTTP GET of ``path``: (answered 2xx, what happened)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path or "/", headers={"User-Agent": "pilothouse-health"})
        resp = conn.getresponse()
        resp.read()
        return 200 <= resp.status < 300, f"HTTP {resp.status}"
    except (OSError, http.client.HTTPException) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()


class StartFailure(Exception):
    """A replica did not become healthy."""

    def __init__(self, replica: Replica, reason: str) -> None:
        super().__init__(reason)
        self.replica = replica
        self.reason = reason


#: the shortest pause between two health probes of a starting replica: a refused connect costs
#: ~40 µs of CPU, so probing every 2 ms while a start is young costs about 2 % of a core
FIRST_PROBE_PAUSE = 0.002
#: the longest pause between two probes of a starting replica: a slow start (a loaded machine, a
#: big app) is seen within 25 ms of its readiness
MAX_PROBE_PAUSE = 0.025
#: the pause after a start has been waited for ``t`` seconds is ``t`` times this (between the two
#: bounds above): a replica is seen healthy at most ~5 % later than it became so
PROBE_LATENESS = 0.05


def probe_pause(waited: float, interval: float) -> float:
    """The pause before the next health probe of a replica whose start was waited for ``waited``
    seconds: ``waited`` × :data:`PROBE_LATENESS`, at least :data:`FIRST_PROBE_PAUSE`, at most
    :data:`MAX_PROBE_PAUSE` or ``interval``.

    A service ready in 80 ms is seen within ~4 ms of it; one that needs 2 s within 25 ms. Doubling
    pauses (10, 20, 25 ms ...) saw the first about 12 ms late on average, 15 % of its start.

    >>> [round(probe_pause(t, 0.15) * 1000, 1) for t in (0.0, 0.04, 0.1, 0.3, 2.0)]
    [2.0, 2.0, 5.0, 15.0, 25.0]
    >>> probe_pause(0.0, 0.001)
    0.001
    """
    return min(max(waited * PROBE_LATENESS, FIRST_PROBE_PAUSE), min(interval, MAX_PROBE_PAUSE))


def probe_pauses(interval: float, first: float, most: float) -> Iterator[float]:
    """Pauses that start at ``first`` and double, capped at ``most`` or ``interval``.

    >>> from itertools import islice
    >>> [round(p, 3) for p in islice(probe_pauses(0.05, 0.002, 0.025), 6)]
    [0.002, 0.004, 0.008, 0.016, 0.025, 0.025]
    """
    cap = min(interval, most)
    pause = min(first, cap)
    while True:
        yield pause
        pause = min(pause * 2, cap)


def wait_healthy(
    replicas: list[Replica],
    path: str,
    timeout: float,
    *,
    interval: float = 0.15,
    cancel: threading.Event | None = None,
) -> None:
    """Poll every replica until each answers 2xx at ``path``; raise :class:`StartFailure` for the
    first one that exits or is not healthy within ``timeout`` seconds.

    The first probe goes at once, the next ones after pauses that grow with the time waited so
    far (:func:`probe_pause`: 2 ms at first, 5 % of the wait, at most 25 ms or ``interval``).
    ``cancel`` being set ends the wait at once with a StartFailure."""
    started = time.monotonic()
    deadline = started + timeout
    pending = list(replicas)
    last: dict[int, str] = {}
    while pending:
        for r in list(pending):
            code = r.exit_code()
            if code is not None:
                raise StartFailure(r, f"process {r.pid} exited with code {code} before it was healthy")
            ok, what = probe(r.host, r.port, path, timeout=min(1.0, max(0.2, deadline - time.monotonic())))
            if ok:
                pending.remove(r)
            else:
                last[r.pid] = what
        if not pending:
            return
        if cancel is not None and cancel.is_set():
            raise StartFailure(pending[0], "cancelled: the provider is closing")
        if time.monotonic() >= deadline:
            r = pending[0]
            code = r.exit_code()
            if code is not None:
                raise StartFailure(r, f"process {r.pid} exited with code {code} before it was healthy")
            raise StartFailure(
                r, f"not healthy within {timeout:g}s at {path} (last probe: {last.get(r.pid, 'none')})"
            )
        now = time.monotonic()
        pause = min(probe_pause(now - started, interval), max(0.0, deadline - now))
        if cancel is not None:
            cancel.wait(pause)
        else:
            time.sleep(pause)


# -- stopping --------------------------------------------------------------------------------------


def stop_replicas(replicas: list[Replica], grace: float | None = None, *, signalled: bool = False) -> None:
    """SIGTERM every replica's process group (unless ``signalled``: the caller just did), wait up to
    the grace period (each replica's own ``grace_seconds`` unless ``grace`` is given), then SIGKILL
    what is left; reap our children.

    Our own children are waited for (``Popen.wait``: back from a quick exit within a millisecond
    or so); adopted replicas, which we cannot wait for, are looked at with a short back-off."""
    if not replicas:
        return
    if not signalled:
        for r in replicas:
            r.signal_group(signal.SIGTERM)
    start = time.monotonic()
    pending = [r for r in replicas if r.is_running()]
    pauses = probe_pauses(0.05, 0.002, MAX_PROBE_PAUSE)
    while pending:
        for r in list(pending):
            limit = r.grace_seconds if grace is None else grace
            left = start + limit - time.monotonic()
            if r.popen is not None and left > 0:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    r.popen.wait(timeout=left)
            if not r.is_running():
                pending.remove(r)
            elif time.monotonic() - start >= limit:
                r.signal_group(signal.SIGKILL)
                pending.remove(r)
        if pending:
            time.sleep(next(pauses))
    for r in replicas:
        # the leader is gone; make sure nothing of its group survives it
        if r.popen is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(r.pgid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                r.popen.wait(timeout=5)
        else:
            deadline = time.monotonic() + 2
            while same_process(r.pid, r.identity) and time.monotonic() < deadline:
                time.sleep(0.05)
