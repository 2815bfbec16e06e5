"""Replica lifecycle of the local provider: start replicas and wait until they are healthy, probe
their health, drain and stop them, open and close the routers in front of them.
"""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pilothouse.providers.base import HealthResult, Placement, PortUnavailable, ProviderError, Release
from pilothouse.providers.local.identity import process_start_time, same_process
from pilothouse.providers.local.journal import TaggedProcess, terminate
from pilothouse.providers.local.launch import LaunchSpec, build_launch_spec
from pilothouse.providers.local.process import (
    Replica,
    StartFailure,
    probe,
    safe_name,
    spawn,
    wait_healthy,
)
from pilothouse.providers.local.registry import _Registry
from pilothouse.providers.local.revision_set import RevisionSet, stable_port_of
from pilothouse.providers.local.router import PortInUse, Router, RouterError

__all__: list[str] = []

HEALTH_CHECK_TIMEOUT = 2.0


def _recorded_alive(record: dict) -> bool:
    """Whether the process a journal record names is still alive and the same process."""
    pid = record.get("pid")
    return isinstance(pid, int) and same_process(pid, record.get("identity"))


class _ReplicaLifecycle(_Registry):
    """Starting, probing, draining and stopping replicas (and their routers)."""

    def check_health(self, placement: Placement, revision: str) -> HealthResult:
        """GET the health path of every replica of ``revision`` now (short timeout, in parallel).

        Works on placements this object does not manage too (from the recorded replicas)."""
        rset = self._revision_set(stable_port_of(placement))
        if rset is not None:
            with rset.lock:
                rev = rset.known(revision)
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

        if len(replicas) == 1:  # no thread to start for the common case
            results = [one(replicas[0])]
        else:
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
        rset = self._revision_set(stable_port_of(current))
        if rset is None:
            orphans = [Replica.from_dict(d, host=self.host) for d in current.details.get("replicas") or []]
            self._stop_replicas(orphans)  # those still the recorded process; every record is dropped
            return
        with rset.lock:
            if rset.stopped:
                return
            victims = rset.detach()
            self._stop_replicas(victims)
            rset.router.close()
            self._release_ports(victims)
            self._unregister(rset)
        self._join_reapers(rset.stable_port)  # old revisions still on their way out

    def close(self) -> None:
        """Stop every replica and router this object started or adopted (control plane exit), then
        every other replica of this data dir the journal or a tag knows (left by a crash)."""
        self._closing.set()
        with self._lock:
            rsets = list(self._sets.values())
            self._sets.clear()
        everything: list[Replica] = []
        for rset in rsets:
            with rset.lock:
                everything += rset.detach()
        self._stop_replicas(everything)
        for rset in rsets:
            rset.router.close()
        self._release_ports(everything)
        self._join_reapers()
        if self.owns_data_dir or not _data_dir_claimed(self.data_dir):
            self.reap_unmanaged()  # never another live control plane's replicas

    #: set by the control plane that holds ``<data-dir>/lock`` (``pilothouse dev``): only it, or a
    #: process that finds the data dir unclaimed, may stop replicas it did not start itself
    owns_data_dir: bool = False

    def recover_journal(self) -> dict[str, int]:
        """After a control-plane crash, before anything is restored: give each recorded intent
        the pid of the process tagged with it (or drop it: it never started), drop records whose
        process is gone, and stop the processes of this data dir that no record knows.

        Returns counts: ``resolved`` intents, ``dropped`` records, ``killed`` unknown processes."""
        with self._restore_lock:
            records = self.journal.records()
            tagged = self.journal.tagged()
            by_id: dict[str, list[TaggedProcess]] = {}
            for t in tagged:
                by_id.setdefault(t.replica_id, []).append(t)
            resolved = dropped = 0
            for rid, rec in records.items():
                procs = by_id.get(rid, [])
                if rec.get("pid") is None:
                    if procs:
                        leader = min(procs, key=_started_at)  # the spawned one: its children came later
                        self.journal.started(rid, leader.pid, leader.identity)
                        resolved += 1
                    else:
                        self.journal.forget(rid)
                        dropped += 1
                elif not procs and not _recorded_alive(rec):
                    self.journal.forget(rid)
                    dropped += 1
            unknown = [t.pid for t in tagged if t.replica_id not in records]
            killed = terminate(unknown) if unknown else []
        return {"resolved": resolved, "dropped": dropped, "killed": len(killed)}

    def reap_unmanaged(self) -> list[int]:
        """Stop every replica of this data dir this object does not manage -- recorded ones no
        deployment adopted (a crash left them) and tagged ones no record knows -- and drop their
        records. Returns the pids signalled. Never touches another data dir's processes."""
        with self._restore_lock:
            # Read the journal and the tagged processes first, what we manage last: a replica spawned
            # meanwhile joined ``_spawned`` before its intent was written, so it counts as managed.
            records = self.journal.records()
            tagged = self.journal.tagged()
            ids, pids = self._managed_ids()
            unmanaged = {rid for rid, rec in records.items() if rid not in ids and rec.get("pid") not in pids}
            keep = ids | (set(records) - unmanaged)
            victims = {t.pid for t in tagged if t.replica_id not in keep}
            for rid in unmanaged:  # a recorded process whose environment could not be read
                rec = records[rid]
                if rec.get("pid") and _recorded_alive(rec):
                    victims.add(int(rec["pid"]))
            signalled = terminate(sorted(victims)) if victims else []
            for rid in unmanaged:
                self.journal.forget(rid)
        return signalled

    def _spec(self, release: Release) -> LaunchSpec:
        if release.replicas < 0:
            raise ProviderError(f"invalid replica count {release.replicas}")
        return build_launch_spec(
            release.component,
            release.version,
            dict(release.target or {}),
            dict(release.config or {}),
            host=self.host,
            secret_env=release.secret_env,
        )

    def _start_router(self, port: int, *, retry_seconds: float = 0.0) -> Router:
        deadline = time.monotonic() + retry_seconds
        while True:
            try:
                return Router(self.host, port, backend_timeout=self.router_timeout).start()
            except RouterError as exc:
                if time.monotonic() >= deadline:
                    error = PortUnavailable if isinstance(exc, PortInUse) else ProviderError
                    raise error(f"cannot open the stable port: {exc}") from exc
                time.sleep(0.1)

    def _start_healthy(
        self,
        rset: RevisionSet,
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
                started.append(self._spawn_recorded(spec, release, revision, log_dir))
            wait_healthy(
                started,
                release.health.path,
                release.health.timeout_seconds,
                interval=self.poll_interval,
                cancel=self._closing,
            )
        except StartFailure as failure:
            self._stop_replicas(started, grace=min(spec.grace_seconds, 2.0))
            self._release_ports(started)
            r = failure.replica
            raise ProviderError(
                f"{release.component} {release.version}: {failure.reason} (log: {r.log_path})",
                logs=r.tail(),
            ) from None
        except BaseException:
            self._stop_replicas(started, grace=min(spec.grace_seconds, 2.0))
            self._release_ports(started)
            raise
        return started

    def _spawn_recorded(self, spec: LaunchSpec, release: Release, revision: str, log_dir: Path) -> Replica:
        """Spawn one replica on a fresh port: its intent is recorded first, its pid as
        soon as it runs (a crash in between leaves an intent that the tag resolves)."""
        self._check_open()
        port = self._pick_port()
        rid = self.journal.new_id()
        with self._lock:
            self._spawned.add(rid)
        try:
            self.journal.intend(
                rid, component=release.component, version=release.version, revision=revision, port=port
            )
            replica = spawn(
                spec,
                component=release.component,
                version=release.version,
                revision=revision,
                port=port,
                log_dir=log_dir,
                now=self.clock.time(),
                host=self.host,
                replica_id=rid,
                tag=self.journal.env_value(rid),
            )
        except BaseException:
            self.journal.forget(rid)
            with self._lock:
                self._reserved_ports.discard(port)
                self._spawned.discard(rid)
            raise
        self.journal.started(rid, replica.pid, replica.identity)
        return replica

    def _retire(self, rset: RevisionSet, victims: list[Replica], *, wait: bool = True) -> None:
        """Replicas already out of the router: let in-flight requests finish, then stop them.

        Without ``wait`` (the old revisions once a new one serves everything) they get SIGTERM now
        and a reaper thread waits for them to exit (SIGKILL after their grace), drops their journal
        records and frees their ports; :meth:`stop` of the deployment and :meth:`close` wait for it.
        A crash meanwhile leaves records the next start resolves (``recover_journal``, then
        ``reap_unmanaged``), as for any replica."""
        if not victims:
            return
        rset.router.wait_idle([r.url for r in victims], timeout=self.drain_seconds)
        if wait:
            self._stop_replicas(victims)
            self._release_ports(victims)
            return
        for r in victims:
            r.signal_group(signal.SIGTERM)
        reaper = threading.Thread(
            target=self._reap, args=(victims,), name=f"local-reaper-{rset.stable_port}", daemon=True
        )
        with self._lock:
            self._reapers[reaper] = rset.stable_port
        reaper.start()

    def _reap(self, victims: list[Replica]) -> None:
        try:
            self._stop_replicas(victims, signalled=True)
            self._release_ports(victims)
        finally:
            with self._lock:
                self._reapers.pop(threading.current_thread(), None)

    def _join_reapers(self, port: int | None = None, timeout: float | None = None) -> None:
        """Wait for the reapers of the deployment on ``port`` (every one, with None) to finish."""
        with self._lock:
            reapers = [t for t, p in self._reapers.items() if port is None or p == port]
        for t in reapers:
            t.join(timeout)


def _data_dir_claimed(data_dir: Path) -> bool:
    """Does another open of ``<data-dir>/lock`` (a running ``pilothouse dev``) hold it now?"""
    import fcntl
    import os

    path = Path(data_dir) / "lock"
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _started_at(proc: TaggedProcess) -> tuple[float, int]:
    """When a tagged process started (pids wrap around, so the lowest pid is not always the first)."""
    started = process_start_time(proc.pid)
    return (float("inf") if started is None else started), proc.pid
