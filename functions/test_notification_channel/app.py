"""POST /v1/notifications/channels/{name}/test: Send a test notification to one channel."""

from pilothouse.api.notifications import test_notification_channel
from pilothouse.runtime.http import http_function

handler = http_function(test_notification_channel)
