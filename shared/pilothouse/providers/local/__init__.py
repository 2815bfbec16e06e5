"""The local provider: components as real OS processes on this machine, behind an HTTP router.

See :class:`LocalProvider` (the provider port) and :class:`Router` (the reverse proxy with
weighted routing between revisions and per-revision statistics).
"""

from pilothouse.providers.local.provider import LocalProvider
from pilothouse.providers.local.router import Router, RouterError

__all__ = ["LocalProvider", "Router", "RouterError"]
