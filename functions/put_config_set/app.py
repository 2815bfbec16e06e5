"""PUT /v1/config-sets/{set_name}."""

from pilothouse.api.config import put_config_set
from pilothouse.runtime.http import http_function

handler = http_function(put_config_set)
