"""Workflow task: Shift a percentage of the traffic to the new revision."""

from pilothouse.runtime.queue import task_function
from pilothouse.services.deployment_tasks import shift

handler = task_function(shift)
