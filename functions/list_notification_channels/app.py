"""GET /v1/notifications/channels: List notification channels."""

from pilothouse.api.notifications import list_notification_channels
from pilothouse.runtime.http import http_function

handler = http_function(list_notification_channels)
