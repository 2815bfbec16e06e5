"""GET /v1/alerts/{name}: Get an alert with its history."""

from pilothouse.api.alerts import get_alert
from pilothouse.runtime.http import http_function

handler = http_function(get_alert)
