"""Workflow task: Set the instances of one revision (rolling batches, recreate)."""

from pilothouse.runtime.queue import task_function
from pilothouse.services.deployment_tasks import set_replicas

handler = task_function(set_replicas)
