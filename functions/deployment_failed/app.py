"""Workflow task: Record that the rollback itself failed."""

from pilothouse.runtime.queue import task_function
from pilothouse.services.deployment_tasks import failed

handler = task_function(failed)
