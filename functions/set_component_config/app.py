"""PUT /v1/components/{name}/config."""

from pilothouse.api.config import set_component_config
from pilothouse.runtime.http import http_function

handler = http_function(set_component_config)
