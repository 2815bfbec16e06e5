"""POST /v1/task-tokens/heartbeat"""

from pilothouse.api.workflows import send_task_heartbeat
from pilothouse.runtime.http import http_function

handler = http_function(send_task_heartbeat)
