"""POST /v1/api-keys: create an API key."""

from pilothouse.api.keys import create_api_key
from pilothouse.runtime.http import http_function

handler = http_function(create_api_key)
