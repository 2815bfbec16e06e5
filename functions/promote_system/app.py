"""POST /v1/systems/{name}/promote: promote to the next environment."""

from pilothouse.api.systems import promote_system
from pilothouse.runtime.http import http_function

handler = http_function(promote_system)
