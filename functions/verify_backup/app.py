"""POST /v1/backups/{backup_id}/verify: check a backup's chunks (an operation)."""

from pilothouse.api.backups import verify_backup
from pilothouse.runtime.http import http_function

handler = http_function(verify_backup)
