"""GET /v1/notifications/channels/{name}/deliveries: A channel's delivery log, newest first."""

from pilothouse.api.notifications import list_notification_deliveries
from pilothouse.runtime.http import http_function

handler = http_function(list_notification_deliveries)
