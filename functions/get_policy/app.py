"""GET /v1/policies/{name}: get policy."""

from pilothouse.api.policies import get_policy
from pilothouse.runtime.http import http_function

handler = http_function(get_policy)
