"""The local provider's bookkeeping of one component: its revisions, their weights, and the
placement details it records (everything a restore needs after a control-plane restart).

Plain data plus the rules that do not need a process or a port: which revision is primary, how
weights follow replica counts, what the router's table is, what the placement says.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from pilothouse.providers.base import Placement, ProviderError, Release
from pilothouse.providers.local.process import Replica
from pilothouse.providers.local.router import Router

__all__ = [
    "BY_REPLICAS",
    "FIXED",
    "SHIFT",
    "RevisionSet",
    "Revision",
    "new_revision_id",
    "proportional",
    "stable_port_of",
]

# where the revisions' weights come from (``details["weights_source"]``)
FIXED, SHIFT, BY_REPLICAS = "fixed", "shift", "replicas"


def new_revision_id(version: str) -> str:
    """A fresh revision id for ``version``: ``"<version>+<6 hex>"``."""
    return f"{version}+{uuid.uuid4().hex[:6]}"


def stable_port_of(placement: Placement) -> int | None:
    """The router port recorded in a local placement (None when it records none)."""
    value = placement.details.get("stable_port")
    return int(value) if value else None


def proportional(counts: dict[str, int]) -> dict[str, int] | None:
    """Whole percentages proportional to ``counts`` summing to 100 (largest remainder); None if
    every count is 0."""
    total = sum(counts.values())
    if total <= 0:
        return None
    exact = {k: c * 100 / total for k, c in counts.items()}
    out = {k: int(v) for k, v in exact.items()}
    order = sorted(counts, key=lambda k: (-(exact[k] - out[k]), -counts[k]))
    for k in order[: 100 - sum(out.values())]:
        out[k] += 1
    return out


@dataclass
class Revision:
    """One revision of a revision set: its replicas and its share of the router's traffic."""

    id: str
    version: str
    # what starts more replicas of it (version == self.version); None when adopted without one
    release: Release | None
    replicas: list[Replica] = field(default_factory=list)
    weight: int = 0
    target_replicas: int = 0  # the count it last ran with (what a rollback to it restarts)
    health_path: str = "/health"

    @classmethod
    def new(cls, release: Release, *, weight: int = 0) -> Revision:
        """A fresh revision (new id, no replicas yet) that runs ``release``."""
        return cls(
            new_revision_id(release.version),
            release.version,
            release,
            weight=weight,
            health_path=release.health.path,
        )

    def startable(self) -> Release:
        """The release that starts more replicas of this revision (ProviderError if adopted without one)."""
        if self.release is None:
            raise ProviderError(
                f"revision {self.id!r} was adopted without a release: restore() the placement with "
                "one before starting replicas of it"
            )
        return self.release


@dataclass
class RevisionSet:
    """Every revision of one component behind its router; ``lock`` serialises operations on it."""

    component: str
    router: Router
    revisions: dict[str, Revision] = field(default_factory=dict)
    stable: str | None = None
    candidate: str | None = None
    weights_source: str = FIXED
    retired: deque[str] = field(default_factory=lambda: deque(maxlen=4))  # metrics still readable
    lock: threading.RLock = field(default_factory=threading.RLock)
    stopped: bool = False

    @property
    def stable_port(self) -> int:
        """The router's port: the component's stable URL, and the revision set's key."""
        return self.router.port

    @property
    def primary(self) -> Revision:
        """The revision the single-revision operations act on: stable, else the candidate."""
        rid = self.stable if self.stable in self.revisions else self.candidate
        if rid not in self.revisions:
            rid = next(iter(self.revisions))
        return self.revisions[rid]

    def all_replicas(self) -> list[Replica]:
        """The replicas of every revision."""
        return [r for rev in self.revisions.values() for r in rev.replicas]

    def check_live(self) -> None:
        """ProviderError if the revision set was stopped."""
        if self.stopped:
            raise ProviderError(f"{self.component} was stopped")

    def known(self, revision: str) -> Revision:
        """The revision ``revision`` (ProviderError naming the known ones if there is none)."""
        rev = self.revisions.get(revision)
        if rev is None:
            raise ProviderError(f"unknown revision {revision!r} (have {sorted(self.revisions)})")
        return rev

    def rebalance(self) -> None:
        """When weights follow replica counts, set them proportional to the counts now."""
        if self.weights_source != BY_REPLICAS:
            return
        weights = proportional({rid: len(r.replicas) for rid, r in self.revisions.items()})
        if weights is not None:
            for rid, w in weights.items():
                self.revisions[rid].weight = w

    def route(self) -> None:
        """Hand the router every revision's replica URLs and weight."""
        self.router.set_backends(
            {rid: ([r.url for r in rev.replicas], rev.weight) for rid, rev in self.revisions.items()}
        )

    def detach(self) -> list[Replica]:
        """Take every replica out of the router and out of its revision; mark the revision set
        stopped. Returns the replicas (for the caller to stop)."""
        self.router.set_backends({})
        victims = self.all_replicas()
        for rev in self.revisions.values():
            rev.replicas = []
        self.stopped = True
        return victims

    def placement(self, *, provider: str, host: str, data_dir: Path) -> Placement:
        """The placement of this revision set now, with the details :meth:`LocalProvider.restore`
        reads back (see the provider module's docstring)."""
        primary = self.primary
        return Placement(
            url=f"http://{host}:{self.stable_port}",
            version=primary.version,
            replicas=len(primary.replicas),
            details={
                "provider": provider,
                "component": self.component,
                "host": host,
                "stable_port": self.stable_port,
                "revision": primary.id,
                "data_dir": str(data_dir),
                "replicas": [r.to_dict() for r in self.all_replicas()],
                "revisions": {
                    rid: {
                        "version": rev.version,
                        "replicas": len(rev.replicas),
                        "weight": rev.weight,
                        "health_path": rev.health_path,
                    }
                    for rid, rev in self.revisions.items()
                },
                "stable": self.stable,
                "candidate": self.candidate,
                "weights_source": self.weights_source,
            },
        )
