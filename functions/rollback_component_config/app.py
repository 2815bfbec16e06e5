"""POST /v1/components/{name}/config/rollback."""

from pilothouse.api.config import rollback_component_config
from pilothouse.runtime.http import http_function

handler = http_function(rollback_component_config)
