"""POST /v1/promotions"""

from pilothouse.api.deployments import start_promotion
from pilothouse.runtime.http import http_function

handler = http_function(start_promotion)
