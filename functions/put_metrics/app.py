"""POST /v1/metrics: ingest datapoints and EMF documents."""

from pilothouse.api.metrics import put_metrics
from pilothouse.runtime.http import http_function

handler = http_function(put_metrics)
