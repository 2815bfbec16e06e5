"""POST /v1/notifications/channels/{name}/deliveries/{delivery}/redeliver: Send a notification again."""

from pilothouse.api.notifications import redeliver_notification
from pilothouse.runtime.http import http_function

handler = http_function(redeliver_notification)
