"""The provider port: what the deployment services ask of a deployment target.

A provider turns a :class:`Release` (one version of one component, with its target settings,
configuration, health check and replica count) into running instances, and reports where they
serve as a :class:`Placement`. Placements are plain JSON so the services can persist them with the
component record and hand them back after a restart of the control plane.
"""

from __future__ import annotations

from pilothouse.ports import (
    HealthCheck,
    HealthResult,
    Metrics,
    Placement,
    PortUnavailable,
    Provider,
    ProviderError,
    Release,
    RevisionProvider,
)

# The interfaces, values and errors are the port's (pilothouse.ports); re-exported for the adapters.
__all__ = [
    "HealthCheck",
    "HealthResult",
    "Metrics",
    "Placement",
    "PortUnavailable",
    "Provider",
    "ProviderError",
    "Release",
    "RevisionProvider",
]


# -- progressive delivery (canary, blue-green, rolling) ---------------------------------------------
#
# A placement may hold several *revisions* of a component at once. ``Placement.details`` then carries
#
#     "revisions": {<revision id>: {"version": str, "replicas": int, "weight": int (percent)}},
#     "stable": <revision id serving before the deployment>,
#     "candidate": <revision id being rolled out, or None>,
#
# Revision ids are the provider's own (a local revision tag, a Lambda version number); the
# deployment workflow only passes them back. Weights are whole percentages summing to 100.
