"""POST /v1/webhook-sources/{name}/deliveries/{delivery_id}/replay: process a delivery again."""

from pilothouse.api.webhooks import replay_webhook_delivery
from pilothouse.runtime.http import http_function

handler = http_function(replay_webhook_delivery)
