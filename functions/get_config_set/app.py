"""GET /v1/config-sets/{set_name}."""

from pilothouse.api.config import get_config_set
from pilothouse.runtime.http import http_function

handler = http_function(get_config_set)
