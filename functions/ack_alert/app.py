"""POST /v1/alerts/{name}/ack: Acknowledge a pending or firing alert."""

from pilothouse.api.alerts import ack_alert
from pilothouse.runtime.http import http_function

handler = http_function(ack_alert)
