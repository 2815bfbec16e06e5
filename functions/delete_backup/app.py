"""DELETE /v1/backups/{backup_id}: delete a backup."""

from pilothouse.api.backups import delete_backup
from pilothouse.runtime.http import http_function

handler = http_function(delete_backup)
