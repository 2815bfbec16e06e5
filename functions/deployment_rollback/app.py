"""Workflow task: Send all traffic back to the stable revision; stop the new one."""

from pilothouse.runtime.queue import task_function
from pilothouse.services.deployment_tasks import rollback

handler = task_function(rollback)
