"""GET /v1/workflows/{workflow}/executions/{execution}/history"""

from pilothouse.api.workflows import execution_history
from pilothouse.runtime.http import http_function

handler = http_function(execution_history)
