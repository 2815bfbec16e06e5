"""POST /v1/components/{name}/deploy: start a deploy."""

from pilothouse.api.components import deploy_component
from pilothouse.runtime.http import http_function

handler = http_function(deploy_component)
