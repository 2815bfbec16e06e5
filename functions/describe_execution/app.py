"""GET /v1/workflows/{workflow}/executions/{execution}"""

from pilothouse.api.workflows import describe_execution
from pilothouse.runtime.http import http_function

handler = http_function(describe_execution)
