"""DELETE /v1/systems/{name}: forget a system."""

from pilothouse.api.systems import delete_system
from pilothouse.runtime.http import http_function

handler = http_function(delete_system)
