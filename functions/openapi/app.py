"""GET /v1/openapi.json: the OpenAPI 3.1 document."""

from pilothouse.api.meta import openapi
from pilothouse.runtime.http import http_function

handler = http_function(openapi)
