"""DELETE /v1/secrets/{secret_name}."""

from pilothouse.api.secrets import delete_secret
from pilothouse.runtime.http import http_function

handler = http_function(delete_secret)
