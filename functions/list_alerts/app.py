"""GET /v1/alerts: List alerts."""

from pilothouse.api.alerts import list_alerts
from pilothouse.runtime.http import http_function

handler = http_function(list_alerts)
