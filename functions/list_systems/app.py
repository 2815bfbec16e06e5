"""GET /v1/systems: list systems."""

from pilothouse.api.systems import list_systems
from pilothouse.runtime.http import http_function

handler = http_function(list_systems)
