"""PUT /v1/environments/{environment}/config."""

from pilothouse.api.config import put_environment_config
from pilothouse.runtime.http import http_function

handler = http_function(put_environment_config)
