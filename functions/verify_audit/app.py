"""GET /v1/audit/verify: check the audit hash chain."""

from pilothouse.api.audit import verify_audit
from pilothouse.runtime.http import http_function

handler = http_function(verify_audit)
