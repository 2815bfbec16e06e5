"""Workflow task: Check every instance of the new revision is healthy."""

from pilothouse.runtime.queue import task_function
from pilothouse.services.deployment_tasks import health

handler = task_function(health)
