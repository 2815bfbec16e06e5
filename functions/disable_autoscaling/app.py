"""DELETE /v1/components/{name}/autoscaling: disable autoscaling (the policy is kept)."""

from pilothouse.api.autoscaling import disable_autoscaling
from pilothouse.runtime.http import http_function

handler = http_function(disable_autoscaling)
