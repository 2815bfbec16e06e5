"""Queue-triggered functions: SQS batches with partial batch failures (Powertools batch utility).

A record whose handler raises is reported in ``batchItemFailures`` and comes back after its
visibility timeout; after the queue's maxReceiveCount it lands in the dead-letter queue.

Queue and scheduled functions emit the same EMF metrics as the HTTP functions
(:mod:`pilothouse.runtime.emf`: invocations, errors, latency per function).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from pilothouse.runtime import emf
from pilothouse.runtime.logs import logger, with_context


def sqs_function(record_handler: Callable[[str], Any]) -> Callable[[dict, Any], dict]:
    """A Lambda handler for SQS events calling ``record_handler(body)`` for each record."""

    def _record(record: SQSRecord) -> Any:
        result = record_handler(record.body)
        logger.info("queue record handled", extra={"message_id": record.message_id, "result": str(result)})
        return result

    name = emf.function_name(record_handler)

    def handler(event: dict, context: Any) -> dict:
        started, failed = time.perf_counter(), True
        try:
            processor = BatchProcessor(event_type=EventType.SQS)
            result = dict(
                process_partial_response(
                    event=event, record_handler=_record, processor=processor, context=context
                )
            )
            failed = bool(result.get("batchItemFailures"))
            return result
        finally:
            emf.record_outcome(name, failed, time.perf_counter() - started)

    return with_context(handler)


def scheduled_function(job: Callable[[dict], Any]) -> Callable[[dict, Any], Any]:
    """A Lambda handler for EventBridge scheduled events calling ``job(event)``."""

    name = emf.function_name(job)

    def handler(event: dict, context: Any) -> Any:
        started, failed = time.perf_counter(), True
        try:
            result = job(event)
            failed = False
        finally:
            emf.record_outcome(name, failed, time.perf_counter() - started)
        logger.info(
            "scheduled job done", extra={"rule": (event.get("resources") or ["?"])[0], "result": result}
        )
        return result

    return with_context(handler)


def task_function(job: Callable[[Any, dict], Any]) -> Callable[[dict, Any], Any]:
    """A Lambda handler for a workflow Task: ``job(services, payload)``; raising fails the Task
    with the exception's class name as the error (as Lambda reports errorType)."""
    from pilothouse.wiring import get_services

    def handler(event: dict, context: Any) -> Any:
        return job(get_services(), event)

    return with_context(handler)
