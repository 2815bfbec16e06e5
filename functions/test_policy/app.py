"""POST /v1/policies/test: test policy."""

from pilothouse.api.policies import test_policy
from pilothouse.runtime.http import http_function

handler = http_function(test_policy)
