"""GET /v1/components: list components (filters, cursor)."""

from pilothouse.api.components import list_components
from pilothouse.runtime.http import http_function

handler = http_function(list_components)
