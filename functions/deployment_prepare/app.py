"""Workflow task: Start the new revision beside the stable one, with no traffic."""

from pilothouse.runtime.queue import task_function
from pilothouse.services.deployment_tasks import prepare

handler = task_function(prepare)
