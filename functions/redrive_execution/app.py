"""POST /v1/workflows/{workflow}/executions/{execution}/redrive"""

from pilothouse.api.workflows import redrive_execution
from pilothouse.runtime.http import http_function

handler = http_function(redrive_execution)
