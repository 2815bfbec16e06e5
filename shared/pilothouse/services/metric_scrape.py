"""Scraping a component's Prometheus text metrics (``metrics: {path: /metrics}`` in its spec).

Each replica is scraped on its own address (as Prometheus scrapes every pod, not the service), with
a ``replica`` label on its samples, where the provider can name its replicas
(:class:`pilothouse.ports.providers.ReplicaEndpoints`); otherwise the component's own URL is. A
scrape also records ``up`` (1 answered and parsed, 0 not), as a Prometheus server does, so a dead
replica's failure is a datapoint, not a stop. Requests go through the outbound guard
(:mod:`pilothouse.net.outbound`); the text is parsed with ``prometheus_client``'s parser.
Each sample becomes a datapoint named as the sample (``http_requests_total``,
``latency_seconds_bucket``...) with its labels as dimensions: a gauge as it reads, a counter as its
running total (what a Prometheus server stores too). Samples beyond :data:`MAX_SAMPLES`, or with
more labels (or longer label names) than a datapoint takes, are left out, and the scrape says how
many: one odd sample never costs the component its whole scrape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pilothouse.domain.metrics import DIMENSION_NAME, MAX_DIMENSIONS, METRIC_NAME, Datapoint

MAX_SAMPLES = 1000
MAX_BODY = 1_048_576


@dataclass
class Scrape:
    """What one scrape found."""

    datapoints: list[Datapoint] = field(default_factory=list)
    skipped: int = 0
    error: str | None = None


def parse(component: str, text: str, now: float, labels: dict[str, str] | None = None) -> Scrape:
    """The datapoints of a Prometheus text exposition (``error`` says why it did not parse), each
    with ``labels`` added (a sample's own label of the same name becomes ``exported_<name>``)."""
    from prometheus_client.parser import text_string_to_metric_families

    out = Scrape()
    extra = dict(labels or {})
    moment = datetime.fromtimestamp(now, UTC)
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                own = {k: v for k, v in sample.labels.items() if v and len(v) <= 256}
                for key in extra.keys() & own.keys():
                    own[f"exported_{key}"] = own.pop(key)
                labels = {**own, **extra}
                value = float(sample.value)
                if (
                    len(out.datapoints) >= MAX_SAMPLES
                    or len(labels) > MAX_DIMENSIONS
                    or not all(DIMENSION_NAME.match(k) for k in labels)
                    or not math.isfinite(value)
                    or not METRIC_NAME.match(sample.name)
                ):
                    out.skipped += 1
                    continue
                out.datapoints.append(Datapoint(component, sample.name, value, moment, "None", labels))
    except (ValueError, TypeError, IndexError) as exc:
        return Scrape(error=f"not Prometheus text: {str(exc)[:200]}")
    return out


def scrape(
    component: str,
    url: str,
    spec: dict[str, Any],
    *,
    policy: Any,
    now: float,
    labels: dict[str, str] | None = None,
) -> Scrape:
    """GET ``url`` + the spec's path through the outbound guard and parse the answer (``labels``
    added to every sample)."""
    from pilothouse.net.outbound import OutboundRefused, request

    target = url.rstrip("/") + spec.get("path", "/metrics")
    try:
        answer = request(
            "GET",
            target,
            policy=policy,
            timeout=float(spec.get("timeout_seconds", 5.0)),
            headers={"Accept": "text/plain; version=0.0.4"},
            max_body_bytes=MAX_BODY,
        )
    except OutboundRefused as exc:
        return Scrape(error=f"refused: {exc.reason}")
    except Exception as exc:  # noqa: BLE001 - any I/O failure is the scrape's outcome, not the sweep's
        return Scrape(error=f"{type(exc).__name__}: {str(exc)[:200]}")
    if answer.status_code != 200:
        return Scrape(error=f"answered {answer.status_code}")
    return parse(component, answer.text, now, labels)


def up(component: str, scraped: Scrape, now: float, labels: dict[str, str] | None = None) -> Datapoint:
    """Prometheus's ``up``: 1 when the scrape answered and parsed, 0 when it did not."""
    moment = datetime.fromtimestamp(now, UTC)
    return Datapoint(component, "up", 0.0 if scraped.error else 1.0, moment, "None", dict(labels or {}))
