"""Workflow task: Make the new revision the only one; the deployment succeeded."""

from pilothouse.runtime.queue import task_function
from pilothouse.services.deployment_tasks import finalize

handler = task_function(finalize)
