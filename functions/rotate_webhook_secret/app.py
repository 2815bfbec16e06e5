"""POST /v1/webhook-sources/{name}/rotate: rotate a webhook source's secret."""

from pilothouse.api.webhooks import rotate_webhook_secret
from pilothouse.runtime.http import http_function

handler = http_function(rotate_webhook_secret)
