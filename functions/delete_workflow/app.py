"""DELETE /v1/workflows/{workflow}"""

from pilothouse.api.workflows import delete_workflow
from pilothouse.runtime.http import http_function

handler = http_function(delete_workflow)
