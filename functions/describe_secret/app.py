"""GET /v1/secrets/{secret_name}."""

from pilothouse.api.secrets import describe_secret
from pilothouse.runtime.http import http_function

handler = http_function(describe_secret)
