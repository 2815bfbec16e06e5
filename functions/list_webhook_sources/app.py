"""GET /v1/webhook-sources: list webhook sources."""

from pilothouse.api.webhooks import list_webhook_sources
from pilothouse.runtime.http import http_function

handler = http_function(list_webhook_sources)
