"""DELETE /v1/notifications/channels/{name}: Delete a notification channel (its delivery log stays)."""

from pilothouse.api.notifications import delete_notification_channel
from pilothouse.runtime.http import http_function

handler = http_function(delete_notification_channel)
