"""PUT /v1/webhook-sources/{name}: change a webhook source's rules."""

from pilothouse.api.webhooks import update_webhook_source
from pilothouse.runtime.http import http_function

handler = http_function(update_webhook_source)
