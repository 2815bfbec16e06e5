"""POST /v1/workflows/{workflow}/executions/{execution}/stop"""

from pilothouse.api.workflows import stop_execution
from pilothouse.runtime.http import http_function

handler = http_function(stop_execution)
