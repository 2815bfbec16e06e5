"""Replica lifecycle of the local provider: start replicas and wait until they are healthy, probe
their health, drain and stop them, open and close the routers in front of them.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from pilothouse.providers.base import HealthResult, Placement, ProviderError, Release
from pilothouse.providers.local.deployment import Deployment, stable_port_of
from pilothouse.providers.local.launch import LaunchSpec, build_launch_spec
from pilothouse.providers.local.process import (
    Replica,
    StartFailure,
    probe,
    safe_name,
    spawn,
    stop_replicas,
    wait_healthy,
)
from pilothouse.providers.local.registry import _Registry
from pilothouse.providers.local.router import Router, RouterError

__all__: list[str] = []

HEALTH_CHECK_TIMEOUT = 2.0


class _ReplicaLifecycle(_Registry):
    """Starting, probing, draining and stopping replicas (and their routers)."""

    def check_health(self, placement: Placement, revision: str) -> HealthResult:
        """GET the health path of every replica of ``revision`` now (short timeout, in parallel).

        Works on placements this object does not manage too (from the recorded replicas)."""
        dep = self._deployment(stable_port_of(placement))
        if dep is not None:
            with dep.lock:
                rev = dep.known(revision)
                replicas, path = list(rev.replicas), rev.health_path
        else:
            info = (placement.details.get("revisions") or {}).get(revision)
            if info is None and placement.details.get("revision") != revision:
                raise ProviderError(f"unknown revision {revision!r}")
            path = str((info or {}).get("health_path") or "/health")
            replicas = [
                Replica.from_dict(d, host=self.host)
                for d in placement.details.get("replicas") or []
                if d.get("revision") == revision
            ]
        if not replicas:
            return HealthResult(healthy=False, checked=0, failing=0, detail="no replicas")

        def one(r: Replica) -> tuple[bool, str]:
            if not r.is_same_process():
                return False, f"pid {r.pid} port {r.port}: process ended"
            ok, what = probe(r.host, r.port, path, timeout=HEALTH_CHECK_TIMEOUT)
            return ok, f"pid {r.pid} port {r.port}: {what}"

        with ThreadPoolExecutor(max_workers=min(8, len(replicas))) as pool:
            results = list(pool.map(one, replicas))
        failing = [what for ok, what in results if not ok]
        return HealthResult(
            healthy=not failing,
            checked=len(results),
            failing=len(failing),
            detail="; ".join(failing) if failing else f"{len(results)} healthy at {path}",
        )

    def stop(self, current: Placement) -> None:
        """Take every revision's replicas out of the router, stop them (SIGTERM, SIGKILL after the
        grace) and close the router's port. Also stops recorded replicas of a placement this object
        does not manage (if they are still the recorded processes)."""
        dep = self._deployment(stable_port_of(current))
        if dep is None:
            orphans = [Replica.from_dict(d, host=self.host) for d in current.details.get("replicas") or []]
            stop_replicas([r for r in orphans if r.is_same_process()])
            return
        with dep.lock:
            if dep.stopped:
                return
            victims = dep.detach()
            stop_replicas(victims)
            dep.router.close()
            self._release_ports(victims)
            self._unregister(dep)

    def close(self) -> None:
        """Stop every replica and router this object started or adopted (control plane exit)."""
        self._closing.set()
        with self._lock:
            deps = list(self._deployments.values())
            self._deployments.clear()
        everything: list[Replica] = []
        for dep in deps:
            with dep.lock:
                everything += dep.detach()
        stop_replicas(everything)
        for dep in deps:
            dep.router.close()
        self._release_ports(everything)

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

    def _start_router(self, port: int, *, retry_seconds: float = 0.0) -> Router:
        deadline = time.monotonic() + retry_seconds
        while True:
            try:
                return Router(self.host, port, backend_timeout=self.router_timeout).start()
            except RouterError as exc:
                if time.monotonic() >= deadline:
                    raise ProviderError(f"cannot open the stable port: {exc}") from exc
                time.sleep(0.1)

    def _start_healthy(
        self,
        dep: Deployment,
        release: Release,
        spec: LaunchSpec,
        count: int,
        revision: str,
    ) -> list[Replica]:
        """Start ``count`` replicas of ``release`` for ``revision`` and wait until all are healthy;
        on failure stop them all and raise ProviderError with the failing one's last log lines."""
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
                            version=release.version,
                            revision=revision,
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
                f"{release.component} {release.version}: {failure.reason} (log: {r.log_path})",
                logs=r.tail(),
            ) from None
        except BaseException:
            stop_replicas(started, grace=min(spec.grace_seconds, 2.0))
            self._release_ports(started)
            raise
        return started

    def _retire(self, dep: Deployment, victims: list[Replica]) -> None:
        """Replicas already out of the router: let in-flight requests finish, then stop them."""
        if not victims:
            return
        dep.router.wait_idle([r.url for r in victims], timeout=self.drain_seconds)
        stop_replicas(victims)
        self._release_ports(victims)
