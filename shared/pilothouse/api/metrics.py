"""Metric endpoints: ingest a batch, query a component's statistics, the fleet for Prometheus."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response

from pilothouse.api import lazy
from pilothouse.api.component_reads import _resource
from pilothouse.domain.components import NAME_PATTERN
from pilothouse.domain.metric_requests import MAX_DATAPOINTS, MetricsRequest
from pilothouse.domain.metrics import STAT_PATTERN, Datapoint
from pilothouse.errors import NotFound, ValidationFailed
from pilothouse.runtime.context import current
from pilothouse.runtime.http import json_response
from pilothouse.runtime.operations import operation
from pilothouse.services import metrics as svc

TAG = "metrics"


def _datapoints(body: MetricsRequest, now: datetime) -> list[Datapoint]:
    """The batch as datapoints; a 422 names every EMF document that is not one."""
    from pilothouse.domain.emf import EmfError, datapoints

    out = [
        Datapoint(d.component, d.name, d.value, d.timestamp or now, d.unit, d.dimensions)
        for d in body.datapoints
    ]
    errors = []
    for i, doc in enumerate(body.emf):
        try:
            out.extend(datapoints(doc, default_component="pilothouse"))
        except EmfError as exc:
            errors.append({"field": f"emf.{i}.{exc.field}", "index": i, "message": exc.message})
    if errors:
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise ValidationFailed(f"{len(errors)} EMF document(s) refused, none written: {summary}", errors)
    if len(out) > MAX_DATAPOINTS:
        raise ValidationFailed.field(
            "datapoints", f"at most {MAX_DATAPOINTS} datapoints per request, EMF values included"
        )
    return out


@operation(
    summary="Ingest metric datapoints and EMF documents", tag=TAG, status=202, response="MetricsAccepted"
)
def put_metrics(
    body: MetricsRequest,
    idempotency_key: Annotated[
        str | None,
        lazy.Header(alias="idempotency-key", max_length=255, description="names the batch for retries"),
    ] = None,
) -> Response[dict[str, Any]]:
    ctx = current()
    ctx.resource = "metrics"
    now = datetime.fromtimestamp(ctx.services.clock.time(), UTC)
    # only a batch its sender names is de-duplicated on retry: identical datapoints of
    # independent senders all count
    batch = svc.batch_id("request", ctx.actor, idempotency_key) if idempotency_key else None
    written = svc.ingest(ctx.services, _datapoints(body, now), batch=batch)
    return json_response({"accepted": written}, 202)


def _moment(value: str | None, field: str, default: datetime, now: datetime) -> datetime:
    """An ISO 8601 time, epoch seconds, or a duration back from now (``1h``, ``30m``, ``2d``)."""
    if value is None:
        return default
    match = re.fullmatch(r"(\d{1,6})([smhd])", value)
    if match:
        seconds = int(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]
        return now - timedelta(seconds=seconds)
    try:
        if re.fullmatch(r"\d{1,12}(\.\d+)?", value):
            return datetime.fromtimestamp(float(value), UTC)
        moment = datetime.fromisoformat(value)
    except (ValueError, OverflowError, OSError):
        raise ValidationFailed.field(field, "an ISO 8601 time, epoch seconds or a duration like 1h") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@operation(summary="A component's metrics", tag=TAG, resource=_resource, response="ComponentMetrics")
def component_metrics(
    name: str,
    metric: Annotated[
        str | None, lazy.Query(max_length=255, description="a metric name; none: list them")
    ] = None,
    stat: Annotated[
        str,
        lazy.Query(
            max_length=16,
            pattern=STAT_PATTERN,
            description="Sum, Average, Minimum, Maximum, SampleCount, pNN",
        ),
    ] = "Average",
    period: Annotated[int, lazy.Query(ge=60, le=86400 * 31, description="seconds, a multiple of 60")] = 60,
    start: Annotated[
        str | None, lazy.Query(max_length=40, description="ISO 8601, epoch s, or 1h ago")
    ] = None,
    end: Annotated[
        str | None, lazy.Query(max_length=40, description="ISO 8601 or epoch s; default now")
    ] = None,
    dimension: Annotated[list[str] | None, lazy.Query(description="key=value, repeatable")] = None,
) -> dict[str, Any]:
    if not re.match(NAME_PATTERN, name):
        raise NotFound(f"no component is named {name[:100]!r}")
    services = current().services
    if metric is None:
        return {"component": name, "metrics": svc.series(services, name)}
    now = datetime.fromtimestamp(services.clock.time(), UTC)
    until = _moment(end, "end", now, now)
    since = _moment(start, "start", until - timedelta(hours=1), now)
    dims: dict[str, str] = {}
    for pair in dimension or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValidationFailed.field("dimension", "key=value")
        dims[key] = value
    try:
        points = svc.query(
            services, name, metric, stat=stat, period=period, start=since, end=until, dimensions=dims or None
        )
    except ValueError as exc:
        raise ValidationFailed.field("stat", str(exc)) from None
    return {
        "component": name,
        "metric": metric,
        "stat": stat,
        "period": period,
        "start": since.isoformat(),
        "end": until.isoformat(),
        "points": [{"timestamp": p.timestamp.isoformat(), "value": p.value} for p in points],
    }


@operation(
    summary="The fleet's metrics in Prometheus exposition format",
    tag=TAG,
    response="PrometheusExposition",
    media_type="text/plain",
)
def prometheus_metrics() -> Response[str]:
    from pilothouse.services.metrics_exposition import exposition

    body, content_type = exposition(current().services)
    return Response(status_code=200, content_type=content_type, body=body)


OPERATIONS = [put_metrics, component_metrics, prometheus_metrics]
