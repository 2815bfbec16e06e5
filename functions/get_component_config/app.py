"""GET /v1/components/{name}/config."""

from pilothouse.api.config import get_component_config
from pilothouse.runtime.http import http_function

handler = http_function(get_component_config)
