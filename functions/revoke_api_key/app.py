"""DELETE /v1/api-keys/{key_id}: revoke an API key."""

from pilothouse.api.keys import revoke_api_key
from pilothouse.runtime.http import http_function

handler = http_function(revoke_api_key)
