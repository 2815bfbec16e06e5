"""POST /v1/deployments/{deployment_id}/reject"""

from pilothouse.api.deployments import reject_deployment
from pilothouse.runtime.http import http_function

handler = http_function(reject_deployment)
