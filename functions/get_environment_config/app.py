"""GET /v1/environments/{environment}/config."""

from pilothouse.api.config import get_environment_config
from pilothouse.runtime.http import http_function

handler = http_function(get_environment_config)
