"""GET /v1/alerts/rules/{name}: Get an alert rule."""

from pilothouse.api.alerts import get_alert_rule
from pilothouse.runtime.http import http_function

handler = http_function(get_alert_rule)
