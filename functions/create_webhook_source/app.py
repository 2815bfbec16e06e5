"""POST /v1/webhook-sources: register a webhook source."""

from pilothouse.api.webhooks import create_webhook_source
from pilothouse.runtime.http import http_function

handler = http_function(create_webhook_source)
