"""GET /v1/backup-operations/{operation_id}: a backup operation's progress."""

from pilothouse.api.backups import get_backup_operation
from pilothouse.runtime.http import http_function

handler = http_function(get_backup_operation)
