"""Workflow task: start the deployment a promotion across environments waits for."""

from pilothouse.runtime.queue import task_function
from pilothouse.services.deployments import promotion_task

handler = task_function(promotion_task)
