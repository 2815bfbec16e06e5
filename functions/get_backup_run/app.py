"""GET /v1/backup-runs/{run_id}: a backup run's progress."""

from pilothouse.api.backups import get_backup_run
from pilothouse.runtime.http import http_function

handler = http_function(get_backup_run)
