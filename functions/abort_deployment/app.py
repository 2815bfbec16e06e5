"""POST /v1/deployments/{deployment_id}/abort"""

from pilothouse.api.deployments import abort_deployment
from pilothouse.runtime.http import http_function

handler = http_function(abort_deployment)
