"""GET /v1/workflows"""

from pilothouse.api.workflows import list_workflows
from pilothouse.runtime.http import http_function

handler = http_function(list_workflows)
