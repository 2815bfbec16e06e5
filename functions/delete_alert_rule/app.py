"""DELETE /v1/alerts/rules/{name}: Delete an alert rule and its alert (the history stays)."""

from pilothouse.api.alerts import delete_alert_rule
from pilothouse.runtime.http import http_function

handler = http_function(delete_alert_rule)
