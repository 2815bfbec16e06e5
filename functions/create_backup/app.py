"""POST /v1/backups: take a backup (an operation)."""

from pilothouse.api.backups import create_backup
from pilothouse.runtime.http import http_function

handler = http_function(create_backup)
