"""DELETE /v1/components/{name}: deregister (history kept)."""

from pilothouse.api.components import deregister_component
from pilothouse.runtime.http import http_function

handler = http_function(deregister_component)
