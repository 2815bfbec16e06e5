"""POST /v1/components/{name}/stop: stop a running component."""

from pilothouse.api.components import stop_component
from pilothouse.runtime.http import http_function

handler = http_function(stop_component)
