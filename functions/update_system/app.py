"""PUT /v1/systems/{name}: change a system."""

from pilothouse.api.systems import update_system
from pilothouse.runtime.http import http_function

handler = http_function(update_system)
