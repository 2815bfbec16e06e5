"""Log lines of concurrent function invocations carry their own Lambda context only (issue 17 §3)."""

from __future__ import annotations

import json
import logging
import threading

from pilothouse.embedded.functions import LambdaContext
from pilothouse.runtime.logs import logger, request_id_of, with_context


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def test_concurrent_handlers_log_their_own_context():
    """Given two functions running at once in one process, when each logs after the other started,
    then every line names its own function and request id, never the other's."""
    capture = _Capture()
    capture.setFormatter(logger.registered_formatter)
    logger._logger.addHandler(capture)
    level = logger._logger.level
    logger._logger.setLevel(logging.INFO)
    a_started, b_done = threading.Event(), threading.Event()

    def first(event, context):
        a_started.set()
        b_done.wait(5)
        logger.info("first")

    def second(event, context):
        a_started.wait(5)
        logger.info("second")
        b_done.set()

    fa = with_context(first, correlation_id=request_id_of)
    fb = with_context(second, correlation_id=request_id_of)
    try:
        ta = threading.Thread(
            target=fa, args=({"requestContext": {"requestId": "req-a"}}, LambdaContext("fn_a", 3))
        )
        tb = threading.Thread(
            target=fb, args=({"requestContext": {"requestId": "req-b"}}, LambdaContext("fn_b", 3))
        )
        ta.start(), tb.start()
        ta.join(), tb.join()
    finally:
        logger._logger.removeHandler(capture)
        logger._logger.setLevel(level)
    by_message = {line["message"]: line for line in capture.lines}
    assert by_message["first"]["function_name"] == "fn_a" and by_message["first"]["correlation_id"] == "req-a"
    assert (
        by_message["second"]["function_name"] == "fn_b" and by_message["second"]["correlation_id"] == "req-b"
    )
