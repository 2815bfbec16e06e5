"""GET /v1/deployments/{deployment_id}"""

from pilothouse.api.deployments import get_deployment
from pilothouse.runtime.http import http_function

handler = http_function(get_deployment)
