"""POST /v1/systems/{name}/update: update members to new versions."""

from pilothouse.api.systems import rollout_system
from pilothouse.runtime.http import http_function

handler = http_function(rollout_system)
