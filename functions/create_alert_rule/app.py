"""POST /v1/alerts/rules: Create an alert rule (metric, health, event or backup_age)."""

from pilothouse.api.alerts import create_alert_rule
from pilothouse.runtime.http import http_function

handler = http_function(create_alert_rule)
