"""GET /v1/notifications/channels/{name}: Get a notification channel."""

from pilothouse.api.notifications import get_notification_channel
from pilothouse.runtime.http import http_function

handler = http_function(get_notification_channel)
