"""The secret-value port (see :mod:`pilothouse.ports`): where secret values live, version by version.

Pilothouse keeps each secret's metadata (name, versions, who and when) in its own store; a backend
keeps the values: the built-in encrypted store (:mod:`pilothouse.secrets.builtin`, the default),
AWS Secrets Manager or SSM Parameter Store (:mod:`pilothouse.secrets.aws`). A value goes in once
per version and comes out only when a deployment starts a revision that references it.
"""

from __future__ import annotations

from typing import Protocol


class SecretBackendError(Exception):
    """The backend refused or failed; the message never carries a value."""


class SecretBackend(Protocol):
    """Versioned secret values."""

    #: ``builtin``, ``secretsmanager`` or ``ssm``
    name: str

    def put(self, secret: str, version: int, value: str) -> str:
        """Store ``value`` as ``version`` of ``secret``; answer the backend's reference to it
        (kept in the metadata, handed to :meth:`get` and :meth:`runtime_reference`)."""
        ...

    def get(self, secret: str, version: int, ref: str) -> str:
        """The value of one version (SecretBackendError if it is gone)."""
        ...

    def forget(self, secret: str, version: int, ref: str) -> None:
        """Drop one version's value (a version past its retention); a missing one is no error."""
        ...

    def delete(self, secret: str) -> None:
        """Drop every value of ``secret``."""
        ...

    def runtime_reference(self, secret: str, version: int, ref: str) -> str | None:
        """What a function resolves at run time with Powertools Parameters (``ssm:<name>:<v>``,
        ``secretsmanager:<id>#<version id>``); None when the backend has none (built-in)."""
        ...
