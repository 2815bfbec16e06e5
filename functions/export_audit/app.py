"""GET /v1/audit/export: audit records oldest first, in chain order."""

from pilothouse.api.audit import export_audit
from pilothouse.runtime.http import http_function

handler = http_function(export_audit)
