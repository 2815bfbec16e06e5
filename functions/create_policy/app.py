"""POST /v1/policies: create policy."""

from pilothouse.api.policies import create_policy
from pilothouse.runtime.http import http_function

handler = http_function(create_policy)
