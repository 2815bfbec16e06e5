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

Revisions
---------
A revision set holds one or more *revisions* (``"<version>+<6 hex>"``), each with its own replicas
and a whole-percent weight in the router. :meth:`LocalProvider.deploy` and
:meth:`~LocalProvider.update` leave exactly one (the ``stable``); :meth:`~LocalProvider.prepare`
adds a ``candidate`` at 0 %, :meth:`~LocalProvider.shift` moves traffic, and
:meth:`~LocalProvider.finalize` / :meth:`~LocalProvider.rollback` go back to one. Until ``shift`` is
called, :meth:`~LocalProvider.set_replicas` makes traffic follow the revisions' replica counts
(rolling deployments). The legacy operations (``scale``; the placement's ``version`` and
``replicas``) act on the *primary* revision: the stable one, or the candidate when there is none.

Crash safety
------------
Every replica is recorded in the data dir's replica journal before it is spawned (then with its
pid) and carries ``PILOTHOUSE_REPLICA=<data-dir tag>:<replica id>`` in its environment (see
:mod:`~pilothouse.providers.local.journal`). After a control-plane crash,
:meth:`~LocalProvider.recover_journal` resolves intents by their tag and kills tagged processes no
record knows; once the placements are restored, :meth:`~LocalProvider.reap_unmanaged` stops the
recorded replicas nothing adopted. :meth:`~LocalProvider.close` leaves no replica of the data dir.

Placement details (JSON), everything :meth:`LocalProvider.restore` needs after a control-plane
restart::

    provider, component, host, stable_port, data_dir,
    revision:   the primary revision's id,
    replicas:   [every replica of every revision: id, pid, port, version, revision, log, identity...],
    revisions:  {id: {version, replicas, weight, health_path}},
    stable, candidate,
    weights_source: "fixed" (deploy/prepare/finalize), "shift" or "replicas".
"""

from __future__ import annotations

from pilothouse.providers.base import Placement, Release
from pilothouse.providers.local.healing import _Healing
from pilothouse.providers.local.router import Router

__all__ = ["LocalProvider"]


class LocalProvider(_Healing):
    """A :class:`~pilothouse.providers.base.RevisionProvider` running replicas as local processes.

    ``data_dir`` holds the replicas' logs. ``host`` is where replicas and routers listen
    (loopback by default). ``poll_interval`` is the health polling period. ``drain_seconds``
    bounds how long a replica taken out of the router may finish in-flight requests before it is
    signalled. Safe to call from several threads; operations on one component are serialised.

    The operations live by idea in sibling modules: bookkeeping in ``registry`` and
    ``revision_set``, replica lifecycle (health, stop, close) in ``lifecycle``, restore and adoption
    in ``restore``, revision operations in ``revisions``, self-healing in ``healing``.
    """

    name = "local"

    def deploy(self, release: Release) -> Placement:
        """Start ``release.replicas`` replicas, wait until each is healthy, put the router in front."""
        return self._new_revision_set(release, as_candidate=False)

    def router(self, placement: Placement) -> Router:
        """The router serving ``placement`` (for weighted/canary routing and its statistics)."""
        return self._managed(placement).router

    def __enter__(self) -> LocalProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
