"""POST /v1/systems/{name}/deploy: deploy every member in dependency order."""

from pilothouse.api.systems import deploy_system
from pilothouse.runtime.http import http_function

handler = http_function(deploy_system)
