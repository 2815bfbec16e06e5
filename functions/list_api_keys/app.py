"""GET /v1/api-keys: list API keys."""

from pilothouse.api.keys import list_api_keys
from pilothouse.runtime.http import http_function

handler = http_function(list_api_keys)
