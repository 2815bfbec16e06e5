"""GET /v1/backups: list complete backups."""

from pilothouse.api.backups import list_backups
from pilothouse.runtime.http import http_function

handler = http_function(list_backups)
