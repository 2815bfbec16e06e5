"""POST /v1/components/{name}/update: new version and/or config."""

from pilothouse.api.components import update_component
from pilothouse.runtime.http import http_function

handler = http_function(update_component)
