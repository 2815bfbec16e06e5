"""GET /v1/components/{name}/config/versions."""

from pilothouse.api.config import component_config_history
from pilothouse.runtime.http import http_function

handler = http_function(component_config_history)
