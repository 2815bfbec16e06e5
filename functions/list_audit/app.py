"""GET /v1/audit: audit records."""

from pilothouse.api.audit import list_audit
from pilothouse.runtime.http import http_function

handler = http_function(list_audit)
