"""POST /v1/deployments/{deployment_id}/resume"""

from pilothouse.api.deployments import resume_deployment
from pilothouse.runtime.http import http_function

handler = http_function(resume_deployment)
