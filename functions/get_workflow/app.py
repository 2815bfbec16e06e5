"""GET /v1/workflows/{workflow}"""

from pilothouse.api.workflows import get_workflow
from pilothouse.runtime.http import http_function

handler = http_function(get_workflow)
