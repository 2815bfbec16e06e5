"""POST /v1/workflows"""

from pilothouse.api.workflows import create_workflow
from pilothouse.runtime.http import http_function

handler = http_function(create_workflow)
