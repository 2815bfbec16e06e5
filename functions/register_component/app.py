"""POST /v1/components: register a component."""

from pilothouse.api.components import register_component
from pilothouse.runtime.http import http_function

handler = http_function(register_component)
