"""GET /v1/metrics/prometheus: the fleet in the Prometheus exposition format."""

from pilothouse.api.metrics import prometheus_metrics
from pilothouse.runtime.http import http_function

handler = http_function(prometheus_metrics)
