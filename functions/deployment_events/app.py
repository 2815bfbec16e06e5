"""GET /v1/deployments/{deployment_id}/events"""

from pilothouse.api.deployments import deployment_events
from pilothouse.runtime.http import http_function

handler = http_function(deployment_events)
