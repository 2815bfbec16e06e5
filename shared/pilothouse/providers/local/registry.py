"""The local provider's own state: its settings, the revision sets it manages (by stable port), the
replica ports it has handed out, the replica journal of its data dir, and whether it is closing.

:class:`_Registry` is the base the provider's other parts (replica lifecycle, restore, revision
operations) build on; it starts no process and opens no port itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pilothouse.clock import Clock, SystemClock
from pilothouse.providers.base import Placement, ProviderError
from pilothouse.providers.local.journal import ReplicaJournal
from pilothouse.providers.local.process import Replica, free_port, stop_replicas
from pilothouse.providers.local.revision_set import RevisionSet

__all__: list[str] = []


class _Registry:
    """Settings and bookkeeping shared by every part of :class:`LocalProvider`."""

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
        self._sets: dict[int, RevisionSet] = {}  # by stable port
        self._reserved_ports: set[int] = set()
        self._closing = threading.Event()
        self._restore_lock = threading.Lock()  # one restore at a time (they may share a port)
        self.journal = ReplicaJournal(self.data_dir)
        self._spawned: set[str] = set()  # ids of the replicas this object started and has not stopped
        #: threads stopping replicas already out of their router, by the stable port they served
        self._reapers: dict[threading.Thread, int] = {}

    def placement(self, component_port: int) -> Placement | None:
        """The live placement of the deployment on ``component_port`` (None if unknown)."""
        rset = self._revision_set(component_port)
        if rset is None:
            return None
        with rset.lock:
            return self._placement(rset)

    def _placement(self, rset: RevisionSet) -> Placement:
        return rset.placement(provider=self.name, host=self.host, data_dir=self.data_dir)

    @contextmanager
    def _placed(self, rset: RevisionSet) -> Iterator[None]:
        """A ProviderError raised inside comes out carrying the revision set's placement (as it is
        after the failure)."""
        try:
            yield
        except ProviderError as exc:
            raise ProviderError(exc.reason, logs=exc.logs, placement=self._placement(rset)) from exc

    def _revision_set(self, port: int | None) -> RevisionSet | None:
        """The managed revision set on ``port`` (None if there is none, or no port)."""
        if port is None:
            return None
        with self._lock:
            return self._sets.get(port)

    def _check_open(self) -> None:
        if self._closing.is_set():
            raise ProviderError("the local provider is closed")

    def _register(self, rset: RevisionSet) -> None:
        with self._lock:
            self._check_open()
            self._sets[rset.stable_port] = rset

    def _unregister(self, rset: RevisionSet) -> None:
        with self._lock:
            if self._sets.get(rset.stable_port) is rset:
                del self._sets[rset.stable_port]

    def _pick_port(self) -> int:
        """A free port for a new replica, reserved until :meth:`_release_ports`."""
        with self._lock:
            for _ in range(50):
                port = free_port(self.host)
                if port not in self._reserved_ports and not any(
                    d.stable_port == port for d in self._sets.values()
                ):
                    self._reserved_ports.add(port)
                    return port
        raise ProviderError("no free port found")

    def _managed_ids(self) -> tuple[set[str], set[int]]:
        """The replica ids (and pids) this object manages: started by it and not stopped yet, or
        adopted into one of its revision sets."""
        with self._lock:
            rsets = list(self._sets.values())
            ids = set(self._spawned)
        pids: set[int] = set()
        for rset in rsets:
            for rev in list(rset.revisions.values()):
                for r in list(rev.replicas):
                    ids.add(r.replica_id)
                    pids.add(r.pid)
        ids.discard("")
        return ids, pids

    def _stop_replicas(
        self, replicas: list[Replica], grace: float | None = None, *, signalled: bool = False
    ) -> None:
        """Stop ``replicas`` (see :func:`stop_replicas`) and drop their journal records."""
        stop_replicas(replicas, grace, signalled=signalled)
        for r in replicas:
            if r.replica_id:
                self.journal.forget(r.replica_id)
                with self._lock:
                    self._spawned.discard(r.replica_id)

    def _reserve_ports(self, replicas: list[Replica]) -> None:
        with self._lock:
            self._reserved_ports.update(r.port for r in replicas)

    def _release_ports(self, replicas: list[Replica]) -> None:
        with self._lock:
            for r in replicas:
                self._reserved_ports.discard(r.port)
