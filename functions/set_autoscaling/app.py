"""PUT /v1/components/{name}/autoscaling: set the autoscaling policy."""

from pilothouse.api.autoscaling import set_autoscaling
from pilothouse.runtime.http import http_function

handler = http_function(set_autoscaling)
