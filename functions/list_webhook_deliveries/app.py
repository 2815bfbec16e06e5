"""GET /v1/webhook-sources/{name}/deliveries: a source's deliveries."""

from pilothouse.api.webhooks import list_webhook_deliveries
from pilothouse.runtime.http import http_function

handler = http_function(list_webhook_deliveries)
