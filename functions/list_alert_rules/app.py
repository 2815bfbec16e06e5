"""GET /v1/alerts/rules: List alert rules."""

from pilothouse.api.alerts import list_alert_rules
from pilothouse.runtime.http import http_function

handler = http_function(list_alert_rules)
