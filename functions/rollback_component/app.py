"""POST /v1/components/{name}/rollback"""

from pilothouse.api.deployments import rollback_component
from pilothouse.runtime.http import http_function

handler = http_function(rollback_component)
