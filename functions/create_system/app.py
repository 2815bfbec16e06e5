"""POST /v1/systems: register a system."""

from pilothouse.api.systems import create_system
from pilothouse.runtime.http import http_function

handler = http_function(create_system)
