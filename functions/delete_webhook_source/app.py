"""DELETE /v1/webhook-sources/{name}: delete a webhook source."""

from pilothouse.api.webhooks import delete_webhook_source
from pilothouse.runtime.http import http_function

handler = http_function(delete_webhook_source)
