"""POST /v1/secrets."""

from pilothouse.api.secrets import create_secret
from pilothouse.runtime.http import http_function

handler = http_function(create_secret)
