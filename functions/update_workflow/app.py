"""PUT /v1/workflows/{workflow}"""

from pilothouse.api.workflows import update_workflow
from pilothouse.runtime.http import http_function

handler = http_function(update_workflow)
