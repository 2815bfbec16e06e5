"""POST /v1/notifications/channels: ."""

from pilothouse.api.notifications import create_notification_channel
from pilothouse.runtime.http import http_function

handler = http_function(create_notification_channel)
