"""POST /v1/deployments/{deployment_id}/approve"""

from pilothouse.api.deployments import approve_deployment
from pilothouse.runtime.http import http_function

handler = http_function(approve_deployment)
