"""POST /v1/deployments/{deployment_id}/rollback"""

from pilothouse.api.deployments import rollback_deployment
from pilothouse.runtime.http import http_function

handler = http_function(rollback_deployment)
