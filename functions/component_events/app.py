"""GET /v1/components/{name}/events: a component's history."""

from pilothouse.api.components import component_events
from pilothouse.runtime.http import http_function

handler = http_function(component_events)
