"""GET /v1/freezes"""

from pilothouse.api.deployments import list_freezes
from pilothouse.runtime.http import http_function

handler = http_function(list_freezes)
