"""GET /v1/components/{name}/metrics: a component's metric series or one metric's statistics."""

from pilothouse.api.metrics import component_metrics
from pilothouse.runtime.http import http_function

handler = http_function(component_metrics)
