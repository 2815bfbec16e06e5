"""Workflow task: advance a system's rollout one step (start, settle, roll back members)."""

from pilothouse.runtime.queue import task_function
from pilothouse.services.system_rollouts import advance_task

handler = task_function(advance_task)
