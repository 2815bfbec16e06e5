"""Reading one component: an endpoint of its own module, so that its function loads neither the
spec models nor Powertools' request validation (it takes only the name from the path)."""

from __future__ import annotations

from typing import Any

from pilothouse.runtime.context import current
from pilothouse.runtime.operations import operation
from pilothouse.services import component_views as svc

TAG = "components"


def _resource(params: dict[str, str]) -> str | None:
    return f"component:{params['name']}" if "name" in params else None


@operation(summary="Get a component", tag=TAG, resource=_resource, response="ComponentAnswer")
def get_component(name: str) -> dict[str, Any]:
    return svc.view(svc.get(current().services, name))
