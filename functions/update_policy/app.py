"""PUT /v1/policies/{name}: update policy."""

from pilothouse.api.policies import update_policy
from pilothouse.runtime.http import http_function

handler = http_function(update_policy)
