"""Keep secret material out of the AWS SDK's DEBUG log lines.

botocore logs, at DEBUG, every request's parameters (``botocore.endpoint``: "Making request for
<operation> with params: {... 'body': ...}") and every response body (``botocore.parsers``:
"Response body: ..."). For Secrets Manager, SSM Parameter Store and KMS those are secret values and
data keys in clear. :func:`quiet_aws_bodies` adds one filter to those two loggers that drops exactly
those records (the other DEBUG lines, retries, endpoints and timings, stay); the secret and key
adapters call it when they are built, so it holds before their first request, with the process's
log level at DEBUG or not.

    >>> import logging; quiet_aws_bodies()
    >>> logging.getLogger("botocore.parsers").filters[0].filter(
    ...     logging.LogRecord("botocore.parsers", 10, "", 0, "Response body:\\n%r", (b"{}",), None))
    False
"""

from __future__ import annotations

import logging
import threading

_LOGGERS = {"botocore.endpoint": "Making request", "botocore.parsers": "Response body"}
_lock = threading.Lock()


class _DropBodies(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        start = _LOGGERS.get(record.name)
        return not (start and str(record.msg).startswith(start))


def quiet_aws_bodies() -> None:
    """Install the filter (once per process; later calls do nothing)."""
    with _lock:
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(f, _DropBodies) for f in logger.filters):
                logger.addFilter(_DropBodies())
