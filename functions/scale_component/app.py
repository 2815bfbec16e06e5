"""POST /v1/components/{name}/scale: change replicas."""

from pilothouse.api.components import scale_component
from pilothouse.runtime.http import http_function

handler = http_function(scale_component)
