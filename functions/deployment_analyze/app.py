"""Workflow task: Measure the new revision (metrics, health) against the step's analysis."""

from pilothouse.runtime.queue import task_function
from pilothouse.services.deployment_tasks import analyze

handler = task_function(analyze)
