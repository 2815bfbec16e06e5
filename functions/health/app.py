"""GET /v1/health: liveness, no auth."""

from pilothouse.api.meta import health
from pilothouse.runtime.http import http_function

handler = http_function(health)
