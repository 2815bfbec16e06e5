"""DELETE /v1/policies/{name}: delete policy."""

from pilothouse.api.policies import delete_policy
from pilothouse.runtime.http import http_function

handler = http_function(delete_policy)
