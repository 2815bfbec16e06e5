"""What a service function receives: the ports, the settings and the clock, as one typed argument.

Service functions take a :class:`ServiceContext` as their first argument. The concrete one is
the wiring's :class:`pilothouse.wiring.Services` (assembled from settings); tests may pass any
object with these attributes. Services never import :mod:`pilothouse.wiring` nor an adapter.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # annotations only: a function loads the ports it uses, not all of them
    from pilothouse.ports import Blobs, Clock, Invoker, Orchestrator, Provider, Queue, Store
    from pilothouse.ports.keys import KeyWrapper
    from pilothouse.ports.secrets import SecretBackend
    from pilothouse.services.execution_listeners import ExecutionListeners
    from pilothouse.settings import Settings


class ServiceContext(Protocol):
    """The ports a service function may use."""

    @property
    def settings(self) -> Settings: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def store(self) -> Store: ...

    @property
    def queue(self) -> Queue: ...

    @property
    def blobs(self) -> Blobs: ...

    @property
    def orchestrator(self) -> Orchestrator: ...

    @property
    def invoker(self) -> Invoker: ...

    @property
    def listeners(self) -> ExecutionListeners:
        """Who hears that an execution ended."""
        ...

    @property
    def master_keys(self) -> KeyWrapper:
        """The master keys that wrap envelope encryption's data keys (``pilothouse.crypto.envelope``)."""
        ...

    @property
    def secrets(self) -> SecretBackend:
        """Where secret values live (built-in encrypted store, Secrets Manager or SSM)."""
        ...

    def scratch_store(self, clock: Clock | None = None) -> AbstractContextManager[Store]:
        """A new empty store, removed on exit (backup drills restore into one); ``clock`` decides
        its items' expiry (the context's clock by default)."""
        ...

    def provider(self, name: str) -> Provider:
        """The adapter for a component's provider (``ProviderUnavailable`` if none is configured)."""
        ...
