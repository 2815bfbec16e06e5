"""GET /v1/components/{name}/config/diff."""

from pilothouse.api.config import component_config_diff
from pilothouse.runtime.http import http_function

handler = http_function(component_config_diff)
