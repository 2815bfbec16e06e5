"""GET /v1/policies: list policies."""

from pilothouse.api.policies import list_policies
from pilothouse.runtime.http import http_function

handler = http_function(list_policies)
