"""GET /v1/webhook-sources/{name}: a webhook source."""

from pilothouse.api.webhooks import get_webhook_source
from pilothouse.runtime.http import http_function

handler = http_function(get_webhook_source)
