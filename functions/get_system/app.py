"""GET /v1/systems/{name}: a system with its members, health and rollout."""

from pilothouse.api.systems import get_system
from pilothouse.runtime.http import http_function

handler = http_function(get_system)
