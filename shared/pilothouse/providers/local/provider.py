"""The local provider: runs each replica of a component as a real OS process on this machine,
behind a :class:`~pilothouse.providers.local.router.Router` on one stable port.

``release.target`` keys:

``command``
    list of strings (or a command line split with :func:`shlex.split`); ``{python}`` expands to
    ``sys.executable``, ``{port}`` to the replica's port and ``{host}`` to ``127.0.0.1``.
``env``
    extra environment (added to this process's environment).
``cwd``
    working directory (relative paths in ``command`` resolve against it); default: the current one.
``versions``
    ``version -> {"args": [...], "env": {...}}`` appended to the command / merged into the env.
``port``
    the stable port of the router (default: a free one, kept for the component's life).
``grace_seconds``
    SIGTERM -> SIGKILL grace when stopping (default 5).

Every replica also gets ``PORT``, ``PILOTHOUSE_VERSION``, ``PILOTHOUSE_COMPONENT`` and
``PILOTHOUSE_CONFIG`` (JSON of ``release.config``). Output goes to
``<data_dir>/logs/<component>/<version>-<port>-<time>.log``.

The placement details (JSON) record the stable port and each replica's pid, port, version, log
and identity, which is what :meth:`LocalProvider.restore` needs after a control-plane restart.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pilothouse.clock import Clock, SystemClock
from pilothouse.providers.base import Placement, ProviderError, Release
from pilothouse.providers.local.process import (
    LaunchSpec,
    Replica,
    StartFailure,
    build_launch_spec,
    free_port,
    probe,
    safe_name,
    spawn,
    stop_replicas,
    wait_healthy,
)
from pilothouse.providers.local.router import Router, RouterError

__all__ = ["LocalProvider"]


@dataclass
class _Deployment:
    component: str
    version: str
    revision: str
    router: Router
    replicas: list[Replica] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    stopped: bool = False

    @property
    def stable_port(self) -> int:
        return self.router.port


class LocalProvider:
    """A :class:`~pilothouse.providers.base.Provider` running replicas as local processes.

    ``data_dir`` holds the replicas' logs. ``host`` is where replicas and routers listen
    (loopback by default). ``poll_interval`` is the health polling period. ``drain_seconds``
    bounds how long a replica taken out of the router may finish in-flight requests before it is
    signalled. Safe to call from several threads; operations on one component are serialised.
    """

    name = "local"

    def __init__(
        self,
        data_dir: Path,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        poll_interval: float = 0.15,
        drain_seconds: float = 5.0,
        router_timeout: float = 30.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.clock: Clock = clock or SystemClock()
        self.host = host
        self.poll_interval = poll_interval
        self.drain_seconds = drain_seconds
        self.router_timeout = router_timeout
        self._lock = threading.Lock()
        self._deployments: dict[int, _Deployment] = {}  # by stable port
        self._reserved_ports: set[int] = set()
        self._closing = threading.Event()
        self._restore_lock = threading.Lock()  # one restore at a time (they may share a port)

    # -- the port --------------------------------------------------------------------------------

    def deploy(self, release: Release) -> Placement:
        """Start ``release.replicas`` replicas, wait until each is healthy, put the router in front."""
        self._check_open()
        spec = self._spec(release)
        router = self._start_router(int(release.target.get("port") or 0))
        dep = _Deployment(
            component=release.component,
            version=release.version,
            revision=self._revision(release.version),
            router=router,
        )
        with dep.lock:
            try:
                self._register(dep)  # so that a concurrent close() waits for this deploy and cleans up
                dep.replicas = self._start_healthy(dep, release, spec, release.replicas, release.version)
            except BaseException:
                self._unregister(dep)
                router.close()
                raise
            self._route(dep)
            return self._placement(dep)

    def update(self, current: Placement, release: Release) -> Placement:
        """Start the new version's replicas (as many as now), switch the router once they are all
        healthy, then drain and stop the old ones. On failure the old ones keep serving."""
        self._check_open()
        dep = self._ensure(current, release)
        spec = self._spec(release)
        with dep.lock:
            self._check_live(dep)
            count = len(dep.replicas)
            revision = self._revision(release.version)
            try:
                new = self._start_healthy(dep, release, spec, count, release.version, revision=revision)
            except ProviderError as exc:
                raise ProviderError(exc.reason, logs=exc.logs, placement=self._placement(dep)) from exc
            old = dep.replicas
            dep.replicas, dep.version, dep.revision = new, release.version, revision
            self._route(dep)
            self._retire(dep, old)
            return self._placement(dep)

    def scale(self, current: Placement, release: Release, replicas: int) -> Placement:
        """Run ``replicas`` replicas of the current version behind the same URL."""
        self._check_open()
        if replicas < 0:
            raise ProviderError(f"cannot scale to {replicas} replicas")
        dep = self._ensure(current, release)
        with dep.lock:
            self._check_live(dep)
            have = len(dep.replicas)
            if replicas > have:
                rel = dataclasses.replace(release, version=dep.version)
                spec = self._spec(rel)
                try:
                    added = self._start_healthy(dep, rel, spec, replicas - have, dep.version)
                except ProviderError as exc:
                    raise ProviderError(exc.reason, logs=exc.logs, placement=self._placement(dep)) from exc
                dep.replicas = dep.replicas + added
                self._route(dep)
            elif replicas < have:
                victims = dep.replicas[replicas:]
                dep.replicas = dep.replicas[:replicas]
                self._route(dep)
                self._retire(dep, victims)
            return self._placement(dep)

    def stop(self, current: Placement) -> None:
        """Take the replicas out of the router, stop them (SIGTERM, SIGKILL after the grace) and
        close the router's port. Also stops recorded replicas of a placement this object does not
        manage (if they are still the recorded processes)."""
        port = self._stable_port(current)
        with self._lock:
            dep = self._deployments.get(port) if port is not None else None
        if dep is None:
            orphans = [Replica.from_dict(d, host=self.host) for d in current.details.get("replicas") or []]
            stop_replicas([r for r in orphans if r.is_same_process()])
            return
        with dep.lock:
            if dep.stopped:
                return
            dep.router.set_backends({})
            victims, dep.replicas = dep.replicas, []
            stop_replicas(victims)
            dep.router.close()
            dep.stopped = True
            self._release_ports(victims)
            with self._lock:
                if self._deployments.get(port) is dep:
                    del self._deployments[port]

    def restore(self, current: Placement, release: Release) -> Placement:
        """Adopt the recorded replicas that are still the same process and healthy, start
        replacements for the others, and bring the router back on the same stable port."""
        with self._restore_lock:
            return self._restore(current, release)

    def _restore(self, current: Placement, release: Release) -> Placement:
        self._check_open()
        port = self._stable_port(current)
        if port is None:
            raise ProviderError("placement has no stable_port: nothing to restore")
        with self._lock:
            known = self._deployments.get(port)
        if known is not None:
            with known.lock:
                return self._placement(known)

        details = current.details
        revision = str(details.get("revision") or "")
        if not revision or current.version != release.version:
            revision = self._revision(release.version)
        adopted: list[Replica] = []
        discard: list[Replica] = []
        for data in details.get("replicas") or []:
            r = Replica.from_dict(data, host=self.host)
            if not r.is_same_process():
                continue
            if r.version != release.version:
                discard.append(r)
                continue
            healthy = False
            for _ in range(3):
                healthy, _what = probe(r.host, r.port, release.health.path, timeout=1.0)
                if healthy:
                    break
                time.sleep(self.poll_interval)
            if healthy:
                r.revision = revision
                adopted.append(r)
            else:
                discard.append(r)
        stop_replicas(discard)
        with self._lock:
            self._reserved_ports.update(r.port for r in adopted)

        try:
            router = self._start_router(port, retry_seconds=3.0)
        except ProviderError:
            self._release_ports(adopted)
            raise
        dep = _Deployment(
            component=release.component,
            version=release.version,
            revision=revision,
            router=router,
            replicas=adopted,
        )
        with dep.lock:
            try:
                self._register(dep)
            except ProviderError:
                router.close()
                self._release_ports(adopted)
                raise
            missing = max(0, current.replicas - len(adopted))
            if missing:
                try:
                    dep.replicas = adopted + self._start_healthy(
                        dep, release, self._spec(release), missing, release.version
                    )
                except ProviderError as exc:
                    self._route(dep)
                    if not adopted:
                        self.stop(self._placement(dep))
                        raise
                    raise ProviderError(exc.reason, logs=exc.logs, placement=self._placement(dep)) from exc
            self._route(dep)
            return self._placement(dep)

    def close(self) -> None:
        """Stop every replica and router this object started or adopted (control plane exit)."""
        self._closing.set()
        with self._lock:
            deps = list(self._deployments.values())
            self._deployments.clear()
        everything: list[Replica] = []
        for dep in deps:
            with dep.lock:
                dep.router.set_backends({})
                everything += dep.replicas
                dep.replicas = []
                dep.stopped = True
        stop_replicas(everything)
        for dep in deps:
            dep.router.close()
        self._release_ports(everything)

    # -- extras ----------------------------------------------------------------------------------

    def router(self, placement: Placement) -> Router:
        """The router serving ``placement`` (for weighted/canary routing and its statistics)."""
        port = self._stable_port(placement)
        with self._lock:
            dep = self._deployments.get(port) if port is not None else None
        if dep is None:
            raise ProviderError(f"no local deployment on port {port}")
        return dep.router

    def placement(self, component_port: int) -> Placement | None:
        """The live placement of the deployment on ``component_port`` (None if unknown)."""
        with self._lock:
            dep = self._deployments.get(component_port)
        if dep is None:
            return None
        with dep.lock:
            return self._placement(dep)

    def __enter__(self) -> LocalProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closing.is_set():
            raise ProviderError("the local provider is closed")

    @staticmethod
    def _check_live(dep: _Deployment) -> None:
        if dep.stopped:
            raise ProviderError(f"{dep.component} was stopped")

    @staticmethod
    def _revision(version: str) -> str:
        return f"{version}+{uuid.uuid4().hex[:6]}"

    @staticmethod
    def _stable_port(placement: Placement) -> int | None:
        value = placement.details.get("stable_port")
        return int(value) if value else None

    def _spec(self, release: Release) -> LaunchSpec:
        if release.replicas < 0:
            raise ProviderError(f"invalid replica count {release.replicas}")
        return build_launch_spec(
            release.component,
            release.version,
            dict(release.target or {}),
            dict(release.config or {}),
            host=self.host,
        )

    def _ensure(self, current: Placement, release: Release) -> _Deployment:
        """The managed deployment of ``current``; restored first if this object doesn't know it."""
        port = self._stable_port(current)
        if port is None:
            raise ProviderError("placement has no stable_port: not a local placement")
        with self._lock:
            dep = self._deployments.get(port)
        if dep is None:
            self.restore(current, dataclasses.replace(release, version=current.version))
            with self._lock:
                dep = self._deployments.get(port)
            if dep is None:
                raise ProviderError(f"could not restore the deployment on port {port}")
        return dep

    def _start_router(self, port: int, *, retry_seconds: float = 0.0) -> Router:
        deadline = time.monotonic() + retry_seconds
        while True:
            try:
                return Router(self.host, port, backend_timeout=self.router_timeout).start()
            except RouterError as exc:
                if time.monotonic() >= deadline:
                    raise ProviderError(f"cannot open the stable port: {exc}") from exc
                time.sleep(0.1)

    def _register(self, dep: _Deployment) -> None:
        with self._lock:
            if self._closing.is_set():
                raise ProviderError("the local provider is closed")
            self._deployments[dep.stable_port] = dep

    def _unregister(self, dep: _Deployment) -> None:
        with self._lock:
            if self._deployments.get(dep.stable_port) is dep:
                del self._deployments[dep.stable_port]

    def _pick_port(self) -> int:
        with self._lock:
            for _ in range(50):
                port = free_port(self.host)
                if port not in self._reserved_ports and not any(
                    d.stable_port == port for d in self._deployments.values()
                ):
                    self._reserved_ports.add(port)
                    return port
        raise ProviderError("no free port found")

    def _release_ports(self, replicas: list[Replica]) -> None:
        with self._lock:
            for r in replicas:
                self._reserved_ports.discard(r.port)

    def _start_healthy(
        self,
        dep: _Deployment,
        release: Release,
        spec: LaunchSpec,
        count: int,
        version: str,
        *,
        revision: str | None = None,
    ) -> list[Replica]:
        """Start ``count`` replicas and wait until all are healthy; on failure stop them all and
        raise ProviderError with the failing one's last log lines."""
        started: list[Replica] = []
        log_dir = self.data_dir / "logs" / safe_name(release.component)
        try:
            for _ in range(count):
                port = self._pick_port()
                try:
                    started.append(
                        spawn(
                            spec,
                            component=release.component,
                            version=version,
                            revision=revision or dep.revision,
                            port=port,
                            log_dir=log_dir,
                            now=self.clock.time(),
                            host=self.host,
                        )
                    )
                except ProviderError:
                    with self._lock:
                        self._reserved_ports.discard(port)
                    raise
            wait_healthy(
                started,
                release.health.path,
                release.health.timeout_seconds,
                interval=self.poll_interval,
                cancel=self._closing,
            )
        except StartFailure as failure:
            stop_replicas(started, grace=min(spec.grace_seconds, 2.0))
            self._release_ports(started)
            r = failure.replica
            raise ProviderError(
                f"{release.component} {version}: {failure.reason} (log: {r.log_path})",
                logs=r.tail(),
            ) from None
        except BaseException:
            stop_replicas(started, grace=min(spec.grace_seconds, 2.0))
            self._release_ports(started)
            raise
        return started

    def _route(self, dep: _Deployment) -> None:
        dep.router.set_backends({dep.revision: ([r.url for r in dep.replicas], 1.0)})

    def _retire(self, dep: _Deployment, victims: list[Replica]) -> None:
        """Replicas already out of the router: let in-flight requests finish, then stop them."""
        if not victims:
            return
        dep.router.wait_idle([r.url for r in victims], timeout=self.drain_seconds)
        stop_replicas(victims)
        self._release_ports(victims)

    def _placement(self, dep: _Deployment) -> Placement:
        return Placement(
            url=f"http://{self.host}:{dep.stable_port}",
            version=dep.version,
            replicas=len(dep.replicas),
            details={
                "provider": self.name,
                "component": dep.component,
                "host": self.host,
                "stable_port": dep.stable_port,
                "revision": dep.revision,
                "data_dir": str(self.data_dir),
                "replicas": [r.to_dict() for r in dep.replicas],
            },
        )
