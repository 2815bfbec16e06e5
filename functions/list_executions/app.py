"""GET /v1/workflows/{workflow}/executions"""

from pilothouse.api.workflows import list_executions
from pilothouse.runtime.http import http_function

handler = http_function(list_executions)
