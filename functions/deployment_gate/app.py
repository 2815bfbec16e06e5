"""Workflow task: Hold a deployment at a gate, pause or approval (a .waitForTaskToken task)."""

from pilothouse.runtime.queue import task_function
from pilothouse.services.deployment_tasks import gate

handler = task_function(gate)
