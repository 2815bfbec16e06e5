"""POST /v1/task-tokens/success"""

from pilothouse.api.workflows import send_task_success
from pilothouse.runtime.http import http_function

handler = http_function(send_task_success)
