"""POST /v1/backups/{backup_id}/drill: restore into a scratch store and compare (an operation)."""

from pilothouse.api.backups import drill_backup
from pilothouse.runtime.http import http_function

handler = http_function(drill_backup)
