"""POST /v1/backups/{backup_id}/restore: restore a backup (an operation)."""

from pilothouse.api.backups import restore_backup
from pilothouse.runtime.http import http_function

handler = http_function(restore_backup)
