"""GET /v1/systems/{name}/rollouts: a system's rollouts."""

from pilothouse.api.systems import system_rollouts
from pilothouse.runtime.http import http_function

handler = http_function(system_rollouts)
