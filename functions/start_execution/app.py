"""POST /v1/workflows/{workflow}/executions"""

from pilothouse.api.workflows import start_execution
from pilothouse.runtime.http import http_function

handler = http_function(start_execution)
