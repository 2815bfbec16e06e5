"""POST /v1/deployments/{deployment_id}/promote"""

from pilothouse.api.deployments import promote_deployment
from pilothouse.runtime.http import http_function

handler = http_function(promote_deployment)
