"""GET /v1/components/{name}/autoscaling: the policy, bounds and latest decisions."""

from pilothouse.api.autoscaling import get_autoscaling
from pilothouse.runtime.http import http_function

handler = http_function(get_autoscaling)
