"""POST /v1/webhooks/{source}: receive a signed webhook delivery."""

from pilothouse.api.webhooks import receive_webhook
from pilothouse.runtime.http import http_function

handler = http_function(receive_webhook)
