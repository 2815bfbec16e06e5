"""GET /v1/components/{name}: one component."""

from pilothouse.api.component_reads import get_component
from pilothouse.runtime.http import http_function

handler = http_function(get_component)
