"""POST /v1/components/{name}/retry: deploy a failed component again."""

from pilothouse.api.components import retry_component
from pilothouse.runtime.http import http_function

handler = http_function(retry_component)
