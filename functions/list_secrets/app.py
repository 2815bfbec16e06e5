"""GET /v1/secrets."""

from pilothouse.api.secrets import list_secrets
from pilothouse.runtime.http import http_function

handler = http_function(list_secrets)
