"""POST /v1/secrets/{secret_name}/rotate."""

from pilothouse.api.secrets import rotate_secret
from pilothouse.runtime.http import http_function

handler = http_function(rotate_secret)
