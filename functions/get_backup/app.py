"""GET /v1/backups/{backup_id}: one backup's manifest."""

from pilothouse.api.backups import get_backup
from pilothouse.runtime.http import http_function

handler = http_function(get_backup)
