"""POST /v1/freezes"""

from pilothouse.api.deployments import freeze
from pilothouse.runtime.http import http_function

handler = http_function(freeze)
