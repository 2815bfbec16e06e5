"""POST /v1/systems/{name}/stop: stop every member."""

from pilothouse.api.systems import stop_system
from pilothouse.runtime.http import http_function

handler = http_function(stop_system)
