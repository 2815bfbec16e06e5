"""Workflow task: start the deployment a promotion across environments waits for."""

from pilothouse.runtime.queue import task_function
from pilothouse.services.promotions import promotion_task

handler = task_function(promotion_task)
