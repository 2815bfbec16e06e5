"""GET /v1/backup-events: backup events (drills, failures, missed RPO)."""

from pilothouse.api.backups import list_backup_events
from pilothouse.runtime.http import http_function

handler = http_function(list_backup_events)
