"""DELETE /v1/freezes/{scope}/{target}"""

from pilothouse.api.deployments import unfreeze
from pilothouse.runtime.http import http_function

handler = http_function(unfreeze)
