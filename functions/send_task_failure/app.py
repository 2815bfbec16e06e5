"""POST /v1/task-tokens/failure"""

from pilothouse.api.workflows import send_task_failure
from pilothouse.runtime.http import http_function

handler = http_function(send_task_failure)
