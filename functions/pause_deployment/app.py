"""POST /v1/deployments/{deployment_id}/pause"""

from pilothouse.api.deployments import pause_deployment
from pilothouse.runtime.http import http_function

handler = http_function(pause_deployment)
