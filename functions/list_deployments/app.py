"""GET /v1/deployments"""

from pilothouse.api.deployments import list_deployments
from pilothouse.runtime.http import http_function

handler = http_function(list_deployments)
