"""POST /v1/alerts/{name}/silence: Silence an alert's notifications for a while."""

from pilothouse.api.alerts import silence_alert
from pilothouse.runtime.http import http_function

handler = http_function(silence_alert)
